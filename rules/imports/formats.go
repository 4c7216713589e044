package imports

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The disk formats, as EC2 names them in DiskContainer.Format.
const (
	FormatRAW   = "RAW"
	FormatQCOW2 = "QCOW2"
	FormatVMDK  = "VMDK"
	FormatVHD   = "VHD"
	FormatVHDX  = "VHDX"
	FormatOVA   = "OVA"
)

// qemuFormats are qemu-img's names of the formats it converts for us.
var qemuFormats = map[string]string{
	FormatRAW: "raw", FormatQCOW2: "qcow2", FormatVMDK: "vmdk", FormatVHD: "vpc", FormatVHDX: "vhdx",
}

// checkFormat returns the EC2 name of a declared format ("" for none), or
// an error for one openami does not take.
func checkFormat(f string) (string, error) {
	u := strings.ToUpper(f)
	switch u {
	case "", FormatRAW, FormatQCOW2, FormatVMDK, FormatVHD, FormatVHDX:
		return u, nil
	}
	return "", fmt.Errorf("unsupported disk format %q (RAW, QCOW2, VMDK, VHD or VHDX)", f)
}

// Detect names the format of a disk file from its data: its first 4 KiB
// (head) and its last 512 bytes (tail). It never trusts the file's name
// or the declared format. A VMDK text descriptor (monolithicFlat, split
// extents) is refused: its extents are other files. A file none of the
// magic numbers matches is RAW.
func Detect(head, tail []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return FormatQCOW2, nil
	case bytes.HasPrefix(head, []byte("KDMV")):
		return FormatVMDK, nil // monolithic sparse and stream-optimized
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return FormatVHDX, nil
	case bytes.HasPrefix(head, []byte("conectix")), bytes.HasPrefix(tail, []byte("conectix")):
		return FormatVHD, nil // dynamic (a copy of the footer first) or fixed (the footer only)
	case bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return "", fmt.Errorf("a VMDK descriptor without its extents is not supported: upload a monolithic sparse or stream-optimized VMDK")
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return FormatOVA, nil
	}
	return FormatRAW, nil
}

// detectFile reads the head and tail of a file and names its format.
func detectFile(f *os.File, size int64) (string, error) {
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	head = head[:n]
	var tail []byte
	if size >= 512 {
		tail = make([]byte, 512)
		if _, err := f.ReadAt(tail, size-512); err != nil {
			return "", err
		}
	}
	return Detect(head, tail)
}

// probeTimeout bounds qemu-img info and map: reading a disk's metadata
// takes seconds, and a crafted file must not hold the worker.
const probeTimeout = 2 * time.Minute

// imageInfo is what qemu-img info reports that openami checks.
type imageInfo struct {
	Format          string `json:"format"`
	Filename        string `json:"filename"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	Encrypted       bool   `json:"encrypted"`
	FormatSpecific  struct {
		Data struct {
			// DataFile is a qcow2's external data file.
			DataFile string `json:"data-file"`
			// Extents are a VMDK's extent files.
			Extents []struct {
				Filename string `json:"filename"`
			} `json:"extents"`
		} `json:"data"`
	} `json:"format-specific"`
}

// qemuInfo runs qemu-img info on a file of a known format. A backing
// file, a qcow2 external data file, a VMDK extent in another file, or
// qemu's own encryption is refused: the first three would read a file of
// the server, the last needs a secret nobody gave.
func (s *Imports) qemuInfo(ctx context.Context, path, format string) (imageInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	f, arg, err := s.openDisk(ctx, path)
	if err != nil {
		return imageInfo{}, err
	}
	defer f.Close()
	out, err := s.qemu(ctx, probeLimits, f, s.cfg.QemuImg, "info", "--output=json", "-f", qemuFormats[format], arg).Output()
	if err != nil {
		return imageInfo{}, fmt.Errorf("the %s disk cannot be read: %s", format, exitText(err))
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info: %w", err)
	}
	switch {
	case info.FormatSpecific.Data.DataFile != "":
		return imageInfo{}, fmt.Errorf("the %s disk has an external data file: upload a standalone disk", format)
	case info.BackingFilename != "":
		return imageInfo{}, fmt.Errorf("the %s disk has a backing file: upload a standalone disk", format)
	case info.Encrypted:
		return imageInfo{}, fmt.Errorf("the %s disk is encrypted by qemu: upload it unencrypted", format)
	case info.VirtualSize <= 0:
		return imageInfo{}, fmt.Errorf("the %s disk is empty", format)
	}
	for _, e := range info.FormatSpecific.Data.Extents {
		if e.Filename != info.Filename {
			return imageInfo{}, fmt.Errorf("the %s disk names another file as an extent: upload a monolithic sparse or stream-optimized VMDK", format)
		}
	}
	return info, nil
}

func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return strings.TrimSpace(firstLine(string(ee.Stderr)))
	}
	return err.Error()
}

func firstLine(s string) string {
	s = strings.TrimPrefix(s, "qemu-img: ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// bootable reports whether the first sectors of a raw disk hold a
// partition table: an MBR's (or GPT's protective MBR's) 0x55AA signature
// with at least one partition entry in use, or a GPT header at LBA 1.
func bootable(first []byte) bool {
	if len(first) >= 520 && string(first[512:520]) == "EFI PART" {
		return true
	}
	if len(first) < 512 || binary.LittleEndian.Uint16(first[510:512]) != 0xAA55 {
		return false
	}
	for i := 0; i < 4; i++ {
		if first[446+16*i+4] != 0 { // partition type
			return true
		}
	}
	return false
}
