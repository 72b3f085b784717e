package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// restoreCommand is `caddy ai-gateway restore`: offline, it loads a backup
// into a new store directory. It talks to no server: the directory must not
// be in use.
func restoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore --from <backup file> --dir <new store directory>",
		Short: "Restores a backup into a new store directory (offline)",
		Long: `Loads a backup written by 'caddy ai-gateway backup' into a new, empty
directory. It refuses a directory that already holds anything, so it can
never overwrite a live store. Then point the ai_gateway global option at
it (store badger <dir>), or stop Caddy and swap the directories, and start
Caddy. Reservations open when the backup was taken are released on the
first start, and 'caddy ai-gateway audit verify' should report OK.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, _ := cmd.Flags().GetString("from")
			dir, _ := cmd.Flags().GetString("dir")
			err := func() error {
				if from == "" || dir == "" {
					return fmt.Errorf("--from and --dir are required")
				}
				f, err := os.Open(from)
				if err != nil {
					return err
				}
				defer f.Close()
				return keystore.Restore(dir, f)
			}()
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
				cmd.SilenceErrors = true
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s into %s\n", from, dir)
			return nil
		},
	}
	cmd.Flags().String("from", "", "Backup file to restore (required)")
	cmd.Flags().String("dir", "", "New, empty store directory to restore into (required)")
	return cmd
}
