package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// backup writes an online backup of the gateway's store to output and
// prints its size. It refuses to replace an existing file unless force is
// set. The body goes to a temporary file next to output that is renamed
// into place once complete, so a failed download never leaves a truncated
// backup under the chosen name nor destroys the file it would replace.
func (c *client) backup(ctx context.Context, output string, force bool) error {
	if output == "" {
		return errors.New("--output is required")
	}
	committed := false // output holds the complete backup
	if !force {
		// Claim the name before downloading; O_EXCL fails if it exists.
		f, oerr := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if oerr != nil {
			if errors.Is(oerr, fs.ErrExist) {
				return fmt.Errorf("%s already exists; use --force to overwrite it", output)
			}
			return oerr
		}
		f.Close()
		defer func() {
			if !committed {
				os.Remove(output)
			}
		}()
	} else if fi, serr := os.Stat(output); serr == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file", output)
	}

	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := c.download(ctx, backupPath, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %v", output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %v", output, err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return err
	}
	committed = true
	if c.jsonOut {
		b, err := json.Marshal(map[string]any{"output": output, "bytes": n})
		if err != nil {
			return err
		}
		return c.writeJSON(b)
	}
	fmt.Fprintf(c.out, "Wrote backup of %s bytes to %s.\n", commaInt(n), output)
	return nil
}
