// Package oracle_test runs testdata/*/*.json through the istio-oracle binary that tools/build-istio-oracle.sh
// builds (or reuses). It imports nothing from Istio, so `go test ./...` shares the binary's build cache
// instead of compiling Istio a second time without -trimpath / with cgo.
package oracle_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// go test ./... -args -update rewrites the "expected" of every case from the oracle's current answer.
// Only do that after checking the new answers against Istio's code.
var update = flag.Bool("update", false, "rewrite expected outputs in testdata")

type testCase struct {
	Description string          `json:"description"`
	Render      []string        `json:"render,omitempty"` // inject cases: extra `helm template` arguments
	Input       json.RawMessage `json:"input"`
	Expected    json.RawMessage `json:"expected,omitempty"`
}

func canonical(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runCases(t *testing.T, dir string, run func(t *testing.T, tc testCase) any) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases in testdata/%s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var tc testCase
			if err := json.Unmarshal(data, &tc); err != nil {
				t.Fatal(err)
			}
			got := canonical(t, run(t, tc))
			if *update {
				tc.Expected = got
				b, err := json.MarshalIndent(tc, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var exp any
			if err := json.Unmarshal(tc.Expected, &exp); err != nil {
				t.Fatalf("expected: %v", err)
			}
			want := canonical(t, exp)
			if !bytes.Equal(got, want) {
				t.Errorf("%s\ngot:\n%s\nwant:\n%s", tc.Description, got, want)
			}
		})
	}
}

var oracleBin string

func oracle(t *testing.T) string {
	t.Helper()
	if oracleBin != "" {
		return oracleBin
	}
	if b := os.Getenv("ISTIO_ORACLE"); b != "" {
		oracleBin = b
		return b
	}
	cmd := exec.Command("bash", filepath.Join("..", "build-istio-oracle.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build-istio-oracle.sh: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	oracleBin = lines[len(lines)-1]
	return oracleBin
}

func runOracle(t *testing.T, stdin []byte, args ...string) any {
	t.Helper()
	cmd := exec.Command(oracle(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("istio-oracle %v: %v\n%s", args, err, stderr.String())
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("istio-oracle %v: stdout is not JSON: %v\n%s", args, err, out)
	}
	return v
}

func TestPeerAuthn(t *testing.T) {
	runCases(t, "peerauthn", func(t *testing.T, tc testCase) any {
		return runOracle(t, tc.Input, "peerauthn")
	})
}

// helmAndChart finds helm (MTLS_GUARD_HELM, else tools/build-helm.sh's cached binary, else PATH) and the chart.
func helmAndChart(t *testing.T) (string, string) {
	helm := os.Getenv("MTLS_GUARD_HELM")
	if helm == "" {
		cache := os.Getenv("MTLS_GUARD_TOOLS_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "mtls-guard", "tools")
		}
		if m, _ := filepath.Glob(filepath.Join(cache, "helm-*", "bin", "helm")); len(m) > 0 {
			helm = m[len(m)-1]
		} else if p, err := exec.LookPath("helm"); err == nil {
			helm = p
		}
	}
	if helm == "" {
		t.Skip("no helm: run tools/build-helm.sh or set MTLS_GUARD_HELM")
	}
	out, err := exec.Command("bash", filepath.Join("..", "build-istio-oracle.sh"), "--chart").Output()
	if err != nil {
		t.Fatalf("build-istio-oracle.sh --chart: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return helm, lines[len(lines)-1]
}

func TestInject(t *testing.T) {
	helm, chart := helmAndChart(t)
	runCases(t, "inject", func(t *testing.T, tc testCase) any {
		args := append([]string{"template", "istiod", chart, "-n", "istio-system"}, tc.Render...)
		out, err := exec.Command(helm, args...).Output()
		if err != nil {
			t.Fatalf("helm %v: %v", args, err)
		}
		path := filepath.Join(t.TempDir(), "rendered.yaml")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return runOracle(t, tc.Input, "inject", "--manifest", path)
	})
}
