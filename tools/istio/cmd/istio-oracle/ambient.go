//go:build istio_oracle

package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityclient "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"istio.io/istio/pilot/pkg/serviceregistry/ambient"
	"istio.io/istio/pilot/pkg/serviceregistry/util/xdsfake"
	"istio.io/istio/pkg/activenotifier"
	"istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/schema/gvr"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient/clienttest"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/kube/multicluster"
	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
)

// ztunnel's view: istiod's ambient index (pilot/pkg/serviceregistry/ambient, ambient.New) over a fake kube client
// holding the pods and the accepted PeerAuthentications. For each pod it yields the policy names istiod sends to
// ztunnel with the Workload (buildWorkloadPolicies → convertedSelectorPeerAuthentications) and the converted
// DENY authorizations (static strict policy, PeerAuthDerivedPolicies). ztunnel then denies a connection if any
// DENY policy matches it; the oracle asks that for a plaintext connection (no peer identity) per port:
// denied → STRICT, allowed → PERMISSIVE.

type ztResult struct {
	Mode     string            `json:"mode"`
	Ports    map[string]string `json:"ports"`
	Policies []string          `json:"policies"`
	// Missing lists names in Policies for which istiod built no authorization (ztunnel ignores them).
	Missing []string `json:"missing,omitempty"`
}

type failer struct{}

func (failer) Fail()                     { panic("fail") }
func (failer) FailNow()                  { panic("fail") }
func (failer) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (failer) Fatalf(s string, a ...any) { panic(fmt.Sprintf(s, a...)) }
func (failer) Helper()                   {}
func (failer) Cleanup(func())            {}
func (failer) Log(...any)                {}
func (failer) Logf(string, ...any)       {}
func (failer) TempDir() string           { return os.TempDir() }
func (failer) Skip(args ...any)          { panic(fmt.Sprint(args...)) }

func toClientPA(c *config.Config) *securityclient.PeerAuthentication {
	pa := &securityclient.PeerAuthentication{
		TypeMeta: metav1.TypeMeta{APIVersion: "security.istio.io/v1", Kind: "PeerAuthentication"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Name, Namespace: c.Namespace, UID: types.UID("uid-" + c.Namespace + "-" + c.Name),
			CreationTimestamp: metav1.NewTime(c.CreationTimestamp),
		},
	}
	c.Spec.(*securityv1beta1.PeerAuthentication).DeepCopyInto(&pa.Spec)
	return pa
}

func runAmbient(root, clusterID string, cfgs []*config.Config, wls []paWorkload, portsOf func(int) []uint32) (map[int]*ztResult, error) {
	var objs []runtime.Object
	namespaces := map[string]bool{}
	podName := func(i int) string { return "oracle-workload-" + strconv.Itoa(i) }
	for i, w := range wls {
		if !w.Ambient {
			continue
		}
		if !namespaces[w.Namespace] {
			namespaces[w.Namespace] = true
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace,
				Labels: map[string]string{"istio.io/dataplane-mode": "ambient"}}})
		}
		ip := fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255+1)
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName(i), Namespace: w.Namespace, Labels: w.Labels,
				UID: types.UID("uid-pod-" + strconv.Itoa(i))},
			Spec: corev1.PodSpec{NodeName: w.NodeName, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}
	if len(namespaces) == 0 {
		return nil, nil
	}
	for _, c := range cfgs {
		objs = append(objs, toClientPA(c))
	}
	cl := kube.NewFakeClient(objs...)
	for _, g := range []schema.GroupVersionResource{gvr.AuthorizationPolicy, gvr.PeerAuthentication, gvr.KubernetesGateway,
		gvr.GatewayClass, gvr.WorkloadEntry, gvr.ServiceEntry} {
		clienttest.MakeCRD(failer{}, cl, g)
	}
	m := mesh.DefaultMeshConfig()
	m.RootNamespace = root
	meshWatcher := meshwatcher.NewTestWatcher(m)
	stop := make(chan struct{})
	defer close(stop)
	mc := multicluster.NewController(multicluster.ControllerOptions{
		Client: cl, ClusterID: cluster.ID(clusterID), SystemNamespace: root, MeshConfig: meshWatcher,
		ClientBuilder: func([]byte, cluster.ID, ...func(*rest.Config)) (kube.Client, error) { return kube.NewFakeClient(), nil },
		Debugger:      krt.GlobalDebugHandler,
	})
	if err := mc.Run(stop); err != nil {
		return nil, fmt.Errorf("multicluster controller: %v", err)
	}
	idx := ambient.New(ambient.Options{
		SystemNamespace: root, DomainSuffix: "cluster.local", ClusterID: cluster.ID(clusterID),
		XDSUpdater: xdsfake.NewFakeXDS(), StatusNotifier: activenotifier.New(true), Debugger: krt.GlobalDebugHandler,
		MeshConfig: meshWatcher, MultiClusterController: mc,
	})
	cl.RunAndWait(stop)
	go idx.Run(stop)
	if !kube.WaitForCacheSync("oracle-ambient", stop, idx.HasSynced) {
		return nil, fmt.Errorf("ambient index did not sync")
	}
	byName := map[string]*workloadapi.Workload{}
	deadline := time.Now().Add(10 * time.Second)
	want := 0
	for _, w := range wls {
		if w.Ambient {
			want++
		}
	}
	for {
		for _, a := range idx.All() {
			if wl := a.GetWorkload(); wl != nil {
				byName[wl.Namespace+"/"+wl.Name] = wl
			}
		}
		if len(byName) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	auths := map[string]*security.Authorization{}
	for _, wa := range idx.Policies(nil) {
		auths[wa.ResourceName()] = wa.Authorization
	}

	out := map[int]*ztResult{}
	for i, w := range wls {
		if !w.Ambient {
			continue
		}
		wi := byName[w.Namespace+"/"+podName(i)]
		if wi == nil {
			return nil, fmt.Errorf("ambient index has no workload for %s", w.ID)
		}
		r := &ztResult{Ports: map[string]string{}, Policies: slices.Clone(wi.AuthorizationPolicies)}
		if r.Policies == nil {
			r.Policies = []string{}
		}
		var pols []*security.Authorization
		for _, name := range r.Policies {
			a, ok := auths[name]
			if !ok {
				// istiod names a policy it never built (see README); ztunnel finds nothing under that name.
				r.Missing = append(r.Missing, name)
				continue
			}
			pols = append(pols, a)
		}
		modeFor := func(port uint32) (string, error) {
			denied, err := denyPlaintext(pols, port)
			if err != nil {
				return "", err
			}
			if denied {
				return "STRICT", nil
			}
			return "PERMISSIVE", nil
		}
		var err error
		if r.Mode, err = modeFor(0); err != nil {
			return nil, fmt.Errorf("%s: %v", w.ID, err)
		}
		for _, port := range portsOf(i) {
			if r.Ports[strconv.FormatUint(uint64(port), 10)], err = modeFor(port); err != nil {
				return nil, fmt.Errorf("%s: %v", w.ID, err)
			}
		}
		out[i] = r
	}
	return out, nil
}

// denyPlaintext: does any DENY authorization match a connection with no peer identity to port?
// Matching as ztunnel does it (src/rbac.rs): an Authorization matches if any group matches; a group if all its
// rules match; a rule if any of its matches matches; a match if every condition it sets holds.
// Only the conditions PeerAuthentication conversion produces are supported; any other one is an error.
func denyPlaintext(pols []*security.Authorization, port uint32) (bool, error) {
	for _, p := range pols {
		if p.GetAction() != security.Action_DENY {
			return false, fmt.Errorf("policy %s/%s is not DENY", p.GetNamespace(), p.GetName())
		}
		for _, g := range p.GetGroups() {
			all := true
			for _, r := range g.GetRules() {
				any := false
				for _, m := range r.GetMatches() {
					ok, err := matchPlaintext(m, port)
					if err != nil {
						return false, fmt.Errorf("policy %s/%s: %v", p.GetNamespace(), p.GetName(), err)
					}
					if ok {
						any = true
					}
				}
				if !any {
					all = false
				}
			}
			if all && len(g.GetRules()) > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func matchPlaintext(m *security.Match, port uint32) (bool, error) {
	if len(m.Namespaces)+len(m.NotNamespaces)+len(m.ServiceAccounts)+len(m.NotServiceAccounts)+len(m.SourceIps)+
		len(m.NotSourceIps)+len(m.DestinationIps)+len(m.NotDestinationIps)+len(m.Extensions) > 0 {
		return false, fmt.Errorf("unsupported match condition %v", m)
	}
	// No identity: a principal matcher never matches, so Principals fails and NotPrincipals holds.
	if len(m.Principals) > 0 {
		return false, nil
	}
	if len(m.DestinationPorts) > 0 && !slices.Contains(m.DestinationPorts, port) {
		return false, nil
	}
	if len(m.NotDestinationPorts) > 0 && slices.Contains(m.NotDestinationPorts, port) {
		return false, nil
	}
	return true, nil
}
