package miniotest

import "testing"

// Two ports picked one after the other can be the same one (CI saw MinIO
// refuse a console address equal to its API address); freePorts must not.
func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(64)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("port %d picked twice or invalid in %v", p, ports)
		}
		seen[p] = true
	}
}
