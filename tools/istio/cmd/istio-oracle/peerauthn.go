//go:build istio_oracle

package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/security/authn"
	"istio.io/istio/pilot/pkg/serviceregistry/kube/controller"
	memregistry "istio.io/istio/pilot/pkg/serviceregistry/memory"
	labelutil "istio.io/istio/pilot/pkg/serviceregistry/util/label"
	"istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/labels"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	pm "istio.io/istio/pkg/model"
	"istio.io/istio/pkg/network"
)

// ---- protocol ----

type paInput struct {
	// SkipAPIServer leaves out the API server's CRD checks and pruning, to see istiod's own validation alone.
	SkipAPIServer bool         `json:"skipApiServer"`
	RootNamespace string       `json:"rootNamespace"`
	ClusterID     *string      `json:"clusterID"`
	Network       string       `json:"network"`
	Policies      []paPolicy   `json:"policies"`
	Nodes         []paNode     `json:"nodes"`
	Workloads     []paWorkload `json:"workloads"`
}

type paPolicy struct {
	APIVersion        string          `json:"apiVersion"`
	Kind              string          `json:"kind"`
	Namespace         string          `json:"namespace"`
	Name              string          `json:"name"`
	CreationTimestamp *string         `json:"creationTimestamp"`
	Spec              json.RawMessage `json:"spec"`
}

type paNode struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type paWorkload struct {
	ID        string            `json:"id"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	NodeName  string            `json:"nodeName"`
	Ports     []uint32          `json:"ports"`
	Ambient   bool              `json:"ambient"`
}

type paOutput struct {
	Rejected  []paRejected `json:"rejected"`
	Warnings  []paRejected `json:"warnings"`
	Workloads []paResult   `json:"workloads"`
}

type paRejected struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// By is who refuses or warns: "apiserver" (CRD schema, CEL rules, pruning), "istiod" (its validating
	// webhook's decoding and validation) or "oracle" (apiVersion/kind not PeerAuthentication).
	By      string `json:"by"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"`
}

type paGoverning struct {
	Mesh      *string `json:"mesh"`
	Namespace *string `json:"namespace"`
	Workload  *string `json:"workload"`
}

type paResult struct {
	ID        string            `json:"id"`
	Mode      string            `json:"mode"`
	Ports     map[string]string `json:"ports"`
	Matched   []string          `json:"matched"`
	Governing paGoverning       `json:"governing"`
	Labels    map[string]string `json:"labels"`
	// Ztunnel is istiod's answer for ztunnel, present only for "ambient": true.
	Ztunnel *ztResult `json:"ztunnel,omitempty"`
}

// ---- conversion and validation (as istiod's validating webhook does it) ----

// convertPolicy turns one input policy into the config.Config istiod would hold, or the error
// istiod's validation webhook answers with (pkg/webhooks/validation/server/server.go, validate()).
func checkTypeMeta(p paPolicy) (string, error) {
	group, version, _ := strings.Cut(p.APIVersion, "/")
	if group != "security.istio.io" || (version != "v1" && version != "v1beta1") {
		return "", fmt.Errorf("unrecognized apiVersion %q: PeerAuthentication is served as security.istio.io/v1 and v1beta1", p.APIVersion)
	}
	kind := p.Kind
	if kind == "" {
		kind = "PeerAuthentication"
	}
	if kind != "PeerAuthentication" {
		return "", fmt.Errorf("unrecognized kind %q", kind)
	}
	return kind, nil
}

func convertPolicy(p paPolicy, kind string) (*config.Config, string, error) {
	meta := map[string]any{"name": p.Name, "namespace": p.Namespace}
	if p.CreationTimestamp != nil {
		meta["creationTimestamp"] = *p.CreationTimestamp
	}
	spec := p.Spec
	if len(spec) == 0 {
		spec = json.RawMessage("{}")
	}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": p.APIVersion, "kind": kind, "metadata": meta, "spec": spec,
	})
	if err != nil {
		return nil, "", err
	}
	var obj crd.IstioKind
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, "", fmt.Errorf("cannot decode configuration: %v", err)
	}
	gvk := obj.GroupVersionKind()
	s, ok := collections.Pilot.FindByGroupKind(resource.FromKubernetesGVK(&gvk))
	if !ok {
		return nil, "", fmt.Errorf("unrecognized type %v", gvk)
	}
	out, err := crd.ConvertObject(s, &obj, "cluster.local")
	if err != nil {
		return nil, "", fmt.Errorf("error decoding configuration: %v", err)
	}
	warn, err := s.ValidateConfig(*out)
	if err != nil {
		return nil, "", fmt.Errorf("configuration is invalid: %v", err)
	}
	w := ""
	if warn != nil {
		w = warn.Error()
	}
	return out, w, nil
}

// ---- PushContext over an in-memory store ----

func buildPushContext(rootNamespace string, cfgs []*config.Config) (*model.PushContext, func()) {
	store := model.NewFakeStore()
	for _, c := range cfgs {
		if _, err := store.Create(*c); err != nil {
			panic(err)
		}
	}
	m := mesh.DefaultMeshConfig()
	m.RootNamespace = rootNamespace
	env := model.NewEnvironment()
	env.ConfigStore = store
	env.ServiceDiscovery = memregistry.NewServiceDiscovery()
	env.Watcher = meshwatcher.NewTestWatcher(m)
	env.VirtualServiceController = model.NewVirtualServiceController(store,
		model.VSControllerOptions{KrtDebugger: krt.GlobalDebugHandler}, env.Watcher)
	stop := make(chan struct{})
	go store.Run(stop)
	go env.VirtualServiceController.Run(stop)
	kube.WaitForCacheSync("oracle", stop, store.HasSynced)
	kube.WaitForCacheSync("oracle", stop, env.VirtualServiceController.HasSynced)
	env.Init()
	push := model.NewPushContext()
	push.InitContext(env, nil, nil)
	return push, func() { close(stop) }
}

// ---- locality (pilot/pkg/serviceregistry/kube/controller/controller.go getPodLocality) ----

// podLocality mirrors Controller.getPodLocality, which is a method on the kube registry and not
// callable alone: the pod's topology.istio.io/locality (or istio-locality) label wins, else the
// node's region/zone (GA label, else the beta failure-domain label) and istio subzone label.
func podLocality(podLabels map[string]string, node *paNode) string {
	if l := pm.GetLocalityLabel(podLabels); l != "" {
		return pm.SanitizeLocalityLabel(l)
	}
	if node == nil {
		return ""
	}
	get := func(ga, beta string) string {
		if v := node.Labels[ga]; v != "" {
			return v
		}
		if beta == "" {
			return ""
		}
		return node.Labels[beta]
	}
	region := get(controller.NodeRegionLabelGA, controller.NodeRegionLabel)
	zone := get(controller.NodeZoneLabelGA, controller.NodeZoneLabel)
	subzone := get(labelutil.LabelTopologySubzone, "")
	if region == "" && zone == "" && subzone == "" {
		return ""
	}
	return region + "/" + zone + "/" + subzone
}

// ---- the program ----

func key(c *config.Config) string { return c.Namespace + "/" + c.Name }

func ptr(c *config.Config) *string {
	if c == nil {
		return nil
	}
	s := key(c)
	return &s
}

// governing applies the selection that ComposePeerAuthentication (pilot/pkg/security/authn/policy_applier.go)
// makes over its input list: per scope, the first config whose CreationTimestamp is not Before the current pick
// is replaced only by a strictly older one, so among equal timestamps the earliest in list order wins.
func governing(rootNamespace string, configs []*config.Config) (meshCfg, nsCfg, wlCfg *config.Config) {
	for _, cfg := range configs {
		spec := cfg.Spec.(*securityv1beta1.PeerAuthentication)
		if spec.Selector == nil || len(spec.Selector.MatchLabels) == 0 {
			if cfg.Namespace == rootNamespace {
				if meshCfg == nil || cfg.CreationTimestamp.Before(meshCfg.CreationTimestamp) {
					meshCfg = cfg
				}
			} else if nsCfg == nil || cfg.CreationTimestamp.Before(nsCfg.CreationTimestamp) {
				nsCfg = cfg
			}
		} else if cfg.Namespace != rootNamespace {
			if wlCfg == nil || cfg.CreationTimestamp.Before(wlCfg.CreationTimestamp) {
				wlCfg = cfg
			}
		}
	}
	return
}

func samePolicy(a, b authn.MergedPeerAuthentication) bool {
	return a.Mode == b.Mode && maps.Equal(a.PerPort, b.PerPort)
}

func runPeerAuthn(in paInput) (paOutput, error) {
	root := in.RootNamespace
	if root == "" {
		root = "istio-system"
	}
	clusterID := "Kubernetes"
	if in.ClusterID != nil {
		clusterID = *in.ClusterID
	}
	out := paOutput{Rejected: []paRejected{}, Warnings: []paRejected{}, Workloads: []paResult{}}

	var cfgs []*config.Config
	policyPorts := map[uint32]bool{}
	for i, p := range in.Policies {
		kind, err := checkTypeMeta(p)
		if err != nil {
			out.Rejected = append(out.Rejected, paRejected{Namespace: p.Namespace, Name: p.Name, By: "oracle", Error: err.Error()})
			continue
		}
		if !in.SkipAPIServer {
			spec, pruned, err := apiServerAdmit(p, kind)
			if err != nil {
				out.Rejected = append(out.Rejected, paRejected{Namespace: p.Namespace, Name: p.Name, By: "apiserver", Error: err.Error()})
				continue
			}
			if len(pruned) > 0 {
				out.Warnings = append(out.Warnings, paRejected{Namespace: p.Namespace, Name: p.Name, By: "apiserver",
					Warning: "unknown field(s) dropped by the API server: " + strings.Join(pruned, ", ")})
			}
			p.Spec = spec
		}
		c, warn, err := convertPolicy(p, kind)
		if err != nil {
			out.Rejected = append(out.Rejected, paRejected{Namespace: p.Namespace, Name: p.Name, By: "istiod", Error: err.Error()})
			continue
		}
		if warn != "" {
			out.Warnings = append(out.Warnings, paRejected{Namespace: p.Namespace, Name: p.Name, By: "istiod", Warning: warn})
		}
		// The in-memory store keys on namespace/name; UID and ResourceVersion only feed istiod's version hash.
		c.UID = strconv.Itoa(i)
		c.ResourceVersion = "1"
		for port := range c.Spec.(*securityv1beta1.PeerAuthentication).PortLevelMtls {
			policyPorts[port] = true
		}
		cfgs = append(cfgs, c)
	}

	push, stop := buildPushContext(root, cfgs)
	defer stop()

	nodes := map[string]*paNode{}
	for i := range in.Nodes {
		nodes[in.Nodes[i].Name] = &in.Nodes[i]
	}

	var portLists [][]uint32
	for _, w := range in.Workloads {
		var node *paNode
		if w.NodeName != "" {
			node = nodes[w.NodeName]
		}
		lbls := labelutil.AugmentLabels(labels.Instance(w.Labels), cluster.ID(clusterID),
			podLocality(w.Labels, node), w.NodeName, network.ID(in.Network))
		res := paResult{ID: w.ID, Ports: map[string]string{}, Matched: []string{}, Labels: lbls}

		matcher := model.PolicyMatcherFor(w.Namespace, lbls, false)
		matched := push.AuthnPolicies.GetPeerAuthenticationsForWorkload(matcher)
		for _, c := range matched {
			res.Matched = append(res.Matched, key(c))
		}
		composed := authn.ComposePeerAuthentication(push.AuthnPolicies.GetRootNamespace(), matched)
		res.Mode = composed.Mode.String()

		mc, nc, wc := governing(push.AuthnPolicies.GetRootNamespace(), matched)
		res.Governing = paGoverning{Mesh: ptr(mc), Namespace: ptr(nc), Workload: ptr(wc)}
		// Self-check: composing only the governing configs must give istiod's answer.
		var gov []*config.Config
		for _, c := range []*config.Config{mc, nc, wc} {
			if c != nil {
				gov = append(gov, c)
			}
		}
		if !samePolicy(composed, authn.ComposePeerAuthentication(push.AuthnPolicies.GetRootNamespace(), gov)) {
			return out, fmt.Errorf("internal: governing policies of %s do not reproduce istiod's composition", w.ID)
		}

		mtls := authn.NewMtlsPolicy(push, push.AuthnPolicies, w.Namespace, lbls, false)
		ports := map[uint32]bool{}
		for _, p := range w.Ports {
			ports[p] = true
		}
		maps.Copy(ports, policyPorts)
		sorted := slices.Sorted(maps.Keys(ports))
		portLists = append(portLists, sorted)
		for _, p := range sorted {
			res.Ports[strconv.FormatUint(uint64(p), 10)] = mtls.GetMutualTLSModeForPort(p).String()
		}
		out.Workloads = append(out.Workloads, res)
	}
	zt, err := runAmbient(push.AuthnPolicies.GetRootNamespace(), clusterID, cfgs, in.Workloads,
		func(i int) []uint32 { return portLists[i] })
	if err != nil {
		return out, err
	}
	for i, r := range zt {
		out.Workloads[i].Ztunnel = r
	}
	return out, nil
}
