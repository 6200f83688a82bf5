package certs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serving-certs")

	// An empty Secret (the rotator has not filled it yet) writes nothing: the rotator waits for tls.crt.
	if err := writeFiles(dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("empty Secret: want no directory, got %v", err)
	}

	if err := writeFiles(dir, []byte("cert1"), []byte("key1")); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, certFile), "cert1")
	assertFile(t, filepath.Join(dir, keyFile), "key1")
	before := modTime(t, filepath.Join(dir, certFile))

	// The same content leaves the files alone, so the webhook server does not reload for nothing.
	time.Sleep(10 * time.Millisecond)
	if err := writeFiles(dir, []byte("cert1"), []byte("key1")); err != nil {
		t.Fatal(err)
	}
	if !modTime(t, filepath.Join(dir, certFile)).Equal(before) {
		t.Error("unchanged certificate was rewritten")
	}

	if err := writeFiles(dir, []byte("cert2"), []byte("key2")); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, certFile), "cert2")
	assertFile(t, filepath.Join(dir, keyFile), "key2")

	// No temporary files left behind, and the key is readable by the manager alone.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("want tls.crt and tls.key only, got %v", entries)
	}
	if info, _ := os.Stat(filepath.Join(dir, keyFile)); info.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode %v, want 0600", info.Mode().Perm())
	}
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s = %q, %v; want %q", path, got, err, want)
	}
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}
