package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/cri/image"
)

func newImageCommand() *cobra.Command {
	var dataDir, address string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build images without a registry, import them into the node's containerd, list them",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultDataDir(), "kijabi data directory (locates the embedded containerd)")
	cmd.PersistentFlags().StringVar(&address, "containerd-address", "", "containerd socket (default: the embedded containerd's, DATA-DIR/agent/containerd/containerd.sock)")
	sock := func() string {
		if address != "" {
			return address
		}
		return containerd.SocketPath(containerd.DefaultDir(dataDir))
	}
	cmd.AddCommand(newImageBuildCommand(), newImageImportCommand(sock), newImageListCommand(sock))
	return cmd
}

func newImageBuildCommand() *cobra.Command {
	var ref, out, workdir, user, busybox string
	var files, entrypoint, command, env, expose, labels []string
	cmd := &cobra.Command{
		Use:   "build -t REF -o OUT.tar",
		Short: "Build a busybox-based image from host files and write it as a docker-archive tarball",
		Long: `Build a busybox-based image from host files and write it as a docker-archive tarball.

The image's first layer is Debian's static busybox with all its applets; -f adds host
files (HOST:DEST or HOST:DEST:MODE, MODE in octal). --entrypoint and --cmd take one
argument per flag, or a JSON array: --cmd '["sh","-c","echo hi"]'. The same inputs always
give the same image digest.`,
		Example: `  kijabi image build -t example.com/hello:v1 -f ./hello:/usr/local/bin/hello:755 --cmd hello -o hello.tar
  kijabi image import hello.tar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := image.Spec{Busybox: busybox, Env: env, WorkingDir: workdir, User: user, ExposedPorts: expose}
			var err error
			if spec.Entrypoint, err = argv(entrypoint); err != nil {
				return fmt.Errorf("--entrypoint: %w", err)
			}
			if spec.Cmd, err = argv(command); err != nil {
				return fmt.Errorf("--cmd: %w", err)
			}
			for _, f := range files {
				file, err := parseImageFile(f)
				if err != nil {
					return err
				}
				spec.Files = append(spec.Files, file)
			}
			if len(labels) > 0 {
				spec.Labels = map[string]string{}
				for _, l := range labels {
					k, v, ok := strings.Cut(l, "=")
					if !ok || k == "" {
						return fmt.Errorf("--label %q: want KEY=VALUE", l)
					}
					spec.Labels[k] = v
				}
			}
			img, err := image.Build(spec)
			if err != nil {
				return err
			}
			if err := image.WriteTarball(out, ref, img); err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return fmt.Errorf("computing the image digest: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s -> %s\n", ref, digest, out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&ref, "tag", "t", "", "image reference, e.g. example.com/app:v1")
	fl.StringVarP(&out, "output", "o", "", "tarball to write")
	fl.StringArrayVarP(&files, "file", "f", nil, "host file to add, HOST:DEST[:MODE] (repeatable)")
	fl.StringArrayVar(&entrypoint, "entrypoint", nil, "entrypoint argument, or a JSON array (repeatable)")
	fl.StringArrayVar(&command, "cmd", nil, "command argument, or a JSON array (repeatable)")
	fl.StringArrayVar(&env, "env", nil, "environment variable K=V (repeatable)")
	fl.StringArrayVar(&expose, "expose", nil, "exposed port, PORT[/PROTO] (repeatable)")
	fl.StringArrayVar(&labels, "label", nil, "image label K=V (repeatable)")
	fl.StringVar(&workdir, "workdir", "", "working directory")
	fl.StringVar(&user, "user", "", "user to run as")
	fl.StringVar(&busybox, "busybox", image.DefaultBusybox, "static busybox binary for the first layer")
	_ = cmd.MarkFlagRequired("tag")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// argv joins repeated flag values into an argument list; a single value starting with [
// is a JSON array.
func argv(vals []string) ([]string, error) {
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
		var out []string
		if err := json.Unmarshal([]byte(vals[0]), &out); err != nil {
			return nil, fmt.Errorf("parsing JSON array %s: %w", vals[0], err)
		}
		return out, nil
	}
	return vals, nil
}

// parseImageFile parses HOST:DEST[:MODE].
func parseImageFile(s string) (image.File, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return image.File{}, fmt.Errorf("--file %q: want HOST:DEST or HOST:DEST:MODE", s)
	}
	f := image.File{Src: parts[0], Dest: parts[1]}
	if len(parts) == 3 {
		m, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil || m > 0o7777 {
			return image.File{}, fmt.Errorf("--file %q: mode %q is not octal permission bits", s, parts[2])
		}
		f.Mode = fs.FileMode(m)
	}
	return f, nil
}

func newImageImportCommand(sock func() string) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Load docker-archive or OCI tarballs into containerd's k8s.io namespace, where pods find them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range args {
				if err := image.Import(cmd.Context(), sock(), f); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", f)
			}
			return nil
		},
	}
}

func newImageListCommand(sock func() string) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the node's images (through CRI)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(sock()); err != nil {
				return fmt.Errorf("no containerd at %s (is the node agent running? see --containerd-address): %w", sock(), err)
			}
			rt, err := cri.Dial(cmd.Context(), sock(), 5*time.Second)
			if err != nil {
				return err
			}
			defer rt.Close()
			resp, err := rt.Images.ListImages(cmd.Context(), &runtimeapi.ListImagesRequest{})
			if err != nil {
				return fmt.Errorf("listing images: %w", err)
			}
			type row struct{ ref, id, size string }
			var rows []row
			for _, img := range resp.GetImages() {
				id := strings.TrimPrefix(img.GetId(), "sha256:")
				if len(id) > 12 {
					id = id[:12]
				}
				size := humanBytes(img.GetSize())
				refs := img.GetRepoTags()
				if len(refs) == 0 {
					refs = img.GetRepoDigests()
				}
				if len(refs) == 0 {
					refs = []string{"<none>"}
				}
				for _, r := range refs {
					rows = append(rows, row{r, id, size})
				}
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].ref < rows[j].ref })
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "REF\tID\tSIZE")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\n", r.ref, r.id, r.size)
			}
			return w.Flush()
		},
	}
}

// humanBytes formats a size the way image tools do (decimal units).
func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%cB", float64(n)/float64(div), "kMGTPE"[exp])
}
