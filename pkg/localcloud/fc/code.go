package fc

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxUnzipped bounds an extracted code package (FC's limit for an uncompressed package is
// 500 MB).
const maxUnzipped = 500 << 20

// extractZip unpacks a code package into a new temporary directory, keeping each entry's
// mode (the go1 runtime executes the handler file directly, so its exec bit must survive)
// and relative symlinks (cmd/build-fc-zip adds "bootstrap" -> main). Entries escaping the
// directory are rejected. parent "" means os.TempDir().
func extractZip(zipPath, parent string) (string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return "", fmt.Errorf("open code package: %w", err)
	}
	defer zr.Close()
	dir, err := os.MkdirTemp(parent, "localfc-code-")
	if err != nil {
		return "", fmt.Errorf("create code dir: %w", err)
	}
	if err := extractInto(zr, dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func extractInto(zr *zip.ReadCloser, dir string) error {
	var total int64
	// Names of the symlinks extracted so far. No entry may lie beneath one: the lexical
	// checks below would not see where it leads ("a/b" -> ".." is inside, but "a/b/c" ->
	// ".." written through it lands beside the code directory).
	links := map[string]bool{}
	for _, f := range zr.File {
		name := path.Clean(strings.ReplaceAll(f.Name, `\`, "/"))
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
			return fmt.Errorf("code package entry %q escapes the code directory", f.Name)
		}
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if links[d] {
				return fmt.Errorf("code package entry %q lies beneath symlink %q: entries are never written through symlinks, which could lead out of the code directory", f.Name, d)
			}
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", f.Name, err)
			}
			continue
		case mode&fs.ModeSymlink != 0:
			target, err := readEntry(f, 4096)
			if err != nil {
				return fmt.Errorf("extract %s: %w", f.Name, err)
			}
			t := string(target)
			if c := path.Clean(path.Join(path.Dir(name), t)); path.IsAbs(t) || c == ".." || strings.HasPrefix(c, "../") {
				return fmt.Errorf("code package symlink %q -> %q escapes the code directory", f.Name, t)
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", f.Name, err)
			}
			if err := os.Symlink(t, dst); err != nil {
				return fmt.Errorf("extract %s: %w", f.Name, err)
			}
			links[name] = true
			continue
		case !mode.IsRegular():
			continue
		}
		total += int64(f.UncompressedSize64)
		if total > maxUnzipped {
			return errors.New("code package exceeds 500 MB uncompressed")
		}
		if err := extractFile(f, dst, mode.Perm()); err != nil {
			return fmt.Errorf("extract %s: %w", f.Name, err)
		}
	}
	return nil
}

func readEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

func extractFile(f *zip.File, dst string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if perm == 0 {
		perm = 0o644 // zips made without Unix attributes
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(rc, maxUnzipped)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// resolveHandler checks that handler names an executable file inside codeDir.
func resolveHandler(codeDir, handler string) (string, error) {
	if handler == "" {
		return "", errors.New("handler is empty (go1: the executable's path inside the code package, e.g. main)")
	}
	clean := path.Clean(handler)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("handler %q must be a relative path inside the code package", handler)
	}
	bin := filepath.Join(codeDir, filepath.FromSlash(clean))
	st, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("handler %q: %w", handler, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("handler %q is not a regular file", handler)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("handler %q is not executable (zip lost the exec bit?)", handler)
	}
	return bin, nil
}
