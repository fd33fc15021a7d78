// Command package zips each built function for FC's go1 runtime: dist/<fn>.zip holding the
// executable `main` with its exec bit (FC runs the handler path inside the zip directly).
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	dist := flag.String("dist", "dist", "build output directory holding <fn>/main")
	flag.Parse()
	for _, fn := range flag.Args() {
		if err := pack(filepath.Join(*dist, fn, "main"), filepath.Join(*dist, fn+".zip")); err != nil {
			fmt.Fprintf(os.Stderr, "package %s: %v\n", fn, err)
			os.Exit(1)
		}
		fmt.Printf("package %s -> %s\n", fn, filepath.Join(*dist, fn+".zip"))
	}
}

func pack(bin, out string) error {
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", bin)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return err
	}
	hdr.Name = "main"
	hdr.Method = zip.Deflate
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
