//go:build istio_oracle

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	"sigs.k8s.io/yaml"

	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
)

// ---- protocol ----

type injInput struct {
	Namespaces []injNamespace `json:"namespaces"`
	Pods       []injPod       `json:"pods"`
	// Nodes, when present (even empty), become the injector's node client, so that its native-sidecar
	// auto-detection (DetectNativeSidecar) runs; absent, the injector has no node client and, with
	// ENABLE_NATIVE_SIDECARS=auto (the default), injects a classic istio-proxy container.
	Nodes *[]injNode `json:"nodes"`
}

type injNode struct {
	Name           string `json:"name"`
	KubeletVersion string `json:"kubeletVersion"`
}

type injNamespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type injPod struct {
	ID        string          `json:"id"`
	Namespace string          `json:"namespace"`
	Pod       json.RawMessage `json:"pod"`
}

type injOutput struct {
	Pods []injResult `json:"pods"`
}

type injResult struct {
	ID               string   `json:"id"`
	Webhook          *string  `json:"webhook"`
	Configuration    *string  `json:"configuration"`
	Revision         *string  `json:"revision"`
	MatchedWebhooks  []string `json:"matchedWebhooks"`
	Injected         bool     `json:"injected"`
	NativeSidecar    bool     `json:"nativeSidecar"`
	StatusAnnotation bool     `json:"statusAnnotation"`
	Reason           string   `json:"reason"`
	Error            string   `json:"error,omitempty"`
}

// ---- the rendered manifest ----

type manifest struct {
	webhooks   []admissionregv1.MutatingWebhookConfiguration
	configMaps map[string]corev1.ConfigMap // by name
}

func readManifest(path string) (*manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &manifest{configMaps: map[string]corev1.ConfigMap{}}
	for _, doc := range splitYAML(data) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil || tm.Kind == "" {
			continue
		}
		switch tm.Kind {
		case "MutatingWebhookConfiguration":
			var mwc admissionregv1.MutatingWebhookConfiguration
			if err := json.Unmarshal(js, &mwc); err != nil {
				return nil, err
			}
			m.webhooks = append(m.webhooks, mwc)
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := json.Unmarshal(js, &cm); err != nil {
				return nil, err
			}
			m.configMaps[cm.Name] = cm
		}
	}
	return m, nil
}

func splitYAML(data []byte) [][]byte {
	var out [][]byte
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			out = append(out, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	out = append(out, cur.Bytes())
	return out
}

// ---- one Istio injector per revision, built with inject.NewWebhook over the rendered ConfigMaps ----

type staticWatcher struct {
	cfg    *inject.Config
	values string
}

func (w *staticWatcher) SetHandler(func(*inject.Config, string) error) {}
func (w *staticWatcher) Run(<-chan struct{})                           {}
func (w *staticWatcher) Get() (*inject.Config, string, error)          { return w.cfg, w.values, nil }

type injector struct {
	revision string
	mux      *http.ServeMux
}

func suffix(rev string) string {
	if rev == "" || rev == "default" {
		return ""
	}
	return "-" + rev
}

func newInjector(m *manifest, rev string, nodes *[]injNode) (*injector, error) {
	cmName := "istio-sidecar-injector" + suffix(rev)
	cm, ok := m.configMaps[cmName]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s not found in the manifest", cmName)
	}
	cfg, err := inject.UnmarshalConfig([]byte(cm.Data["config"]))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s config: %v", cmName, err)
	}
	meshName := "istio" + suffix(rev)
	meshCM, ok := m.configMaps[meshName]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s not found in the manifest", meshName)
	}
	meshCfg, err := mesh.ApplyMeshConfigDefaults(meshCM.Data["mesh"])
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s mesh: %v", meshName, err)
	}
	env := model.NewEnvironment()
	env.Watcher = meshwatcher.NewTestWatcher(meshCfg)
	mux := http.NewServeMux()
	multi := multicluster.NewFakeController()
	_, err = inject.NewWebhook(inject.WebhookParameters{
		Watcher:      &staticWatcher{cfg: &cfg, values: cm.Data["values"]},
		Env:          env,
		Mux:          mux,
		Revision:     rev,
		MultiCluster: multi,
	})
	if err != nil {
		return nil, err
	}
	if nodes != nil {
		var objs []runtime.Object
		for _, n := range *nodes {
			objs = append(objs, &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: n.Name},
				Status:     corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: n.KubeletVersion}},
			})
		}
		client := kube.NewFakeClient(objs...)
		stop := make(chan struct{}) // lives as long as the process
		multi.Add(cluster.ID(constants.DefaultClusterName), client, stop)
		client.RunAndWait(stop)
	}
	return &injector{revision: rev, mux: mux}, nil
}

// review sends one AdmissionReview to the injector's /inject handler and returns the patched pod
// (nil when the injector answered without a patch).
func (inj *injector) review(path string, ns string, podJSON []byte) (*corev1.Pod, *admissionv1.AdmissionResponse, error) {
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("oracle"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns,
			Operation: admissionv1.Create,
		},
	}
	ar.Request.Object.Raw = podJSON
	body, err := json.Marshal(ar)
	if err != nil {
		return nil, nil, err
	}
	if path == "" {
		path = "/inject"
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	inj.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("injector answered HTTP %d: %s", rec.Code, rec.Body.String())
	}
	var resp admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return nil, nil, err
	}
	if resp.Response == nil {
		return nil, nil, fmt.Errorf("injector gave no response")
	}
	if resp.Response.Result != nil && resp.Response.Result.Message != "" {
		return nil, resp.Response, fmt.Errorf("injector error: %s", resp.Response.Result.Message)
	}
	if len(resp.Response.Patch) == 0 {
		return nil, resp.Response, nil
	}
	patch, err := jsonpatch.DecodePatch(resp.Response.Patch)
	if err != nil {
		return nil, resp.Response, err
	}
	patched, err := patch.Apply(podJSON)
	if err != nil {
		return nil, resp.Response, err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		return nil, resp.Response, err
	}
	return &pod, resp.Response, nil
}

// ---- is the injector called (the API server's webhook predicates) ----

func ruleMatchesPodCreate(r admissionregv1.RuleWithOperations, ns string, pod *corev1.Pod) bool {
	attr := admission.NewAttributesRecord(pod, nil,
		schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, ns, pod.Name,
		schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "",
		admission.Create, &metav1.CreateOptions{}, false, nil)
	m := rules.Matcher{Rule: r, Attr: attr}
	return m.Matches()
}

func selectorMatches(sel *metav1.LabelSelector, lbls map[string]string) (bool, error) {
	if sel == nil {
		// The API server defaults a nil selector to {} (match everything).
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(klabels.Set(lbls)), nil
}

func hasIstioProxy(pod *corev1.Pod) (container, native bool) {
	for _, c := range pod.Spec.Containers {
		if c.Name == inject.ProxyContainerName {
			container = true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == inject.ProxyContainerName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			native = true
		}
	}
	return
}

func runInject(manifestPath string, in injInput) (injOutput, error) {
	m, err := readManifest(manifestPath)
	if err != nil {
		return injOutput{}, err
	}
	nsLabels := map[string]map[string]string{}
	for _, ns := range in.Namespaces {
		l := map[string]string{}
		for k, v := range ns.Labels {
			l[k] = v
		}
		// The API server adds this label to every namespace (NamespaceDefaultLabelName).
		l[corev1.LabelMetadataName] = ns.Name
		nsLabels[ns.Name] = l
	}
	injectors := map[string]*injector{}
	out := injOutput{Pods: []injResult{}}
	for _, p := range in.Pods {
		res := injResult{ID: p.ID, MatchedWebhooks: []string{}}
		var pod corev1.Pod
		if err := json.Unmarshal(p.Pod, &pod); err != nil {
			res.Error = "pod: " + err.Error()
			out.Pods = append(out.Pods, res)
			continue
		}
		ns := p.Namespace
		if ns == "" {
			ns = pod.Namespace
		}
		nl, ok := nsLabels[ns]
		if !ok {
			nl = map[string]string{corev1.LabelMetadataName: ns}
		}
		var firstHook *admissionregv1.MutatingWebhook
		var firstCfg *admissionregv1.MutatingWebhookConfiguration
		for i := range m.webhooks {
			cfg := &m.webhooks[i]
			for j := range cfg.Webhooks {
				wh := &cfg.Webhooks[j]
				ruled := false
				for _, r := range wh.Rules {
					if ruleMatchesPodCreate(r, ns, &pod) {
						ruled = true
					}
				}
				if !ruled {
					continue
				}
				nsOK, err := selectorMatches(wh.NamespaceSelector, nl)
				if err != nil {
					res.Error = fmt.Sprintf("%s namespaceSelector: %v", wh.Name, err)
					continue
				}
				objOK, err := selectorMatches(wh.ObjectSelector, pod.Labels)
				if err != nil {
					res.Error = fmt.Sprintf("%s objectSelector: %v", wh.Name, err)
					continue
				}
				if nsOK && objOK {
					res.MatchedWebhooks = append(res.MatchedWebhooks, cfg.Name+"/"+wh.Name)
					if firstHook == nil {
						firstHook, firstCfg = wh, cfg
					}
				}
			}
		}
		if firstHook == nil {
			res.Reason = "no injector webhook matches the namespace and pod labels"
			out.Pods = append(out.Pods, res)
			continue
		}
		name, cfgName := firstHook.Name, firstCfg.Name
		res.Webhook, res.Configuration = &name, &cfgName
		rev := firstCfg.Labels[label.IoIstioRev.Name]
		if rev == "" {
			rev = "default"
		}
		res.Revision = &rev
		inj, ok := injectors[rev]
		if !ok {
			inj, err = newInjector(m, rev, in.Nodes)
			if err != nil {
				return out, fmt.Errorf("revision %s: %v", rev, err)
			}
			injectors[rev] = inj
		}
		path := ""
		if firstHook.ClientConfig.Service != nil && firstHook.ClientConfig.Service.Path != nil {
			path = *firstHook.ClientConfig.Service.Path
		} else if u := firstHook.ClientConfig.URL; u != nil {
			if i := strings.Index(*u, "/inject"); i >= 0 {
				path = (*u)[i:]
			}
		}
		// Send the pod as the API server serializes it (every container has "resources": {} and so on):
		// the injector's JSON patch is computed against that form and may not apply to a hand-written one.
		podJSON, err := json.Marshal(&pod)
		if err != nil {
			return out, err
		}
		patched, _, err := inj.review(path, ns, podJSON)
		if err != nil {
			res.Error = err.Error()
			res.Reason = "the injector failed"
			out.Pods = append(out.Pods, res)
			continue
		}
		if patched == nil {
			res.Reason = skipReason(&pod, ns)
			out.Pods = append(out.Pods, res)
			continue
		}
		container, native := hasIstioProxy(patched)
		res.Injected = container || native
		res.NativeSidecar = native
		_, res.StatusAnnotation = patched.Annotations["sidecar.istio.io/status"]
		if res.Injected {
			res.Reason = "injected by revision " + rev
		} else {
			res.Reason = "the injector patched the pod but added no istio-proxy"
		}
		out.Pods = append(out.Pods, res)
	}
	return out, nil
}

// skipReason names the first injectRequired (pkg/kube/inject/inject.go) clause that can explain a skip.
// It is a hint only: the decision itself is the webhook's answer.
func skipReason(pod *corev1.Pod, ns string) string {
	if pod.Spec.HostNetwork {
		return "not injected: hostNetwork"
	}
	if inject.IgnoredNamespaces.Contains(ns) {
		return "not injected: namespace " + ns + " is ignored by the injector"
	}
	v, isLabel := pod.Labels[label.SidecarInject.Name]
	if !isLabel {
		v = pod.Annotations[label.SidecarInject.Name]
	}
	switch v {
	case "false":
		if isLabel {
			return "not injected: label sidecar.istio.io/inject=false"
		}
		return "not injected: annotation sidecar.istio.io/inject=false"
	case "true":
		return "not injected although sidecar.istio.io/inject=true"
	}
	return "not injected: injection policy (policy / neverInjectSelector / default)"
}
