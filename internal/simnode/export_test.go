package simnode

// Test helpers shared with the external test package (simnode_test), whose tests use the real
// API server and therefore cannot live inside this package.
var (
	PodCondition = podCondition
	GetNode      = getNode
	GetLease     = getLease
	GetPod       = getPod
	NodeReady    = nodeReady
	RenewTime    = renewTime
	TestPod      = testPod
)
