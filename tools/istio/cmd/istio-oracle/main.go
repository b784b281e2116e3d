//go:build istio_oracle

// istio-oracle answers, with Istio's own packages, what istiod computes for a given cluster state.
//
//	istio-oracle peerauthn                      < state.json   (PeerAuthentication: effective mTLS per workload/port)
//	istio-oracle inject --manifest RENDERED.yaml < pods.json    (is the injector called, does it inject)
//	istio-oracle version
//
// Input is one JSON document on stdin; output one JSON document on stdout. Istio's logs go to stderr.
// The protocol is described in tools/istio/README.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	istiolog "istio.io/istio/pkg/log"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: istio-oracle peerauthn < state.json | istio-oracle inject --manifest RENDERED.yaml < pods.json | istio-oracle version")
	os.Exit(2)
}

func quietIstioLogs() {
	o := istiolog.DefaultOptions()
	o.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.ErrorLevel)
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	if lvl := os.Getenv("ISTIO_ORACLE_LOG"); lvl != "" {
		o.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.StringToLevel(lvl))
	}
	_ = istiolog.Configure(o)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "istio-oracle:", err)
	os.Exit(1)
}

func writeJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fail(err)
	}
}

func readStdin(v any) {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		fail(fmt.Errorf("stdin: %v", err))
	}
}

func istioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "istio.io/istio" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	quietIstioLogs()
	switch os.Args[1] {
	case "peerauthn":
		var in paInput
		readStdin(&in)
		out, err := runPeerAuthn(in)
		if err != nil {
			fail(err)
		}
		writeJSON(out)
	case "inject":
		fs := flag.NewFlagSet("inject", flag.ExitOnError)
		manifest := fs.String("manifest", "", "helm template output of the istio-discovery chart")
		_ = fs.Parse(os.Args[2:])
		if *manifest == "" {
			usage()
		}
		var in injInput
		readStdin(&in)
		out, err := runInject(*manifest, in)
		if err != nil {
			fail(err)
		}
		writeJSON(out)
	case "version":
		writeJSON(map[string]string{"istio": istioVersion()})
	default:
		usage()
	}
}
