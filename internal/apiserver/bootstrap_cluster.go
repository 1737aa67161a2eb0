package apiserver

import "context"

// bootstrapClusterConfig creates the cluster-wide configuration kube-apiserver keeps from its
// first start on: the default ServiceCIDR (ready), the IPAddresses of the allocated
// ClusterIPs, and API Priority and Fairness' mandatory and suggested objects. It then keeps
// the FlowSchemas' conditions until the server stops.
func (s *Server) bootstrapClusterConfig(ctx context.Context) error {
	if err := s.bootstrapServiceCIDR(ctx); err != nil {
		return err
	}
	if err := s.repairIPAddresses(ctx); err != nil {
		return err
	}
	if err := s.bootstrapFlowControl(ctx); err != nil {
		return err
	}
	go s.runFlowSchemaStatus(ctx)
	return nil
}
