# pod-requires-mesh in Rego, for the benchmark baseline: the engine under Gatekeeper evaluating the same rule
# on the same AdmissionReviews, with namespace labels loaded as data (data.namespaces[name] = labels).
package mtlsguard

request := input.request

controller_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

exempt := {"kube-system", "kube-public", "kube-node-lease", "istio-system"}

template := request.object if request.kind.kind == "Pod"

template := request.object.spec.template if controller_kinds[request.kind.kind]

template := request.object.spec.jobTemplate.spec.template if request.kind.kind == "CronJob"

pod_labels := object.get(template, ["metadata", "labels"], {})

ns_labels := object.get(data.namespaces, request.namespace, {})

has_proxy if {
	some c in template.spec.containers
	c.name == "istio-proxy"
}

has_proxy if {
	some c in object.get(template.spec, "initContainers", [])
	c.name == "istio-proxy"
}

ambient if pod_labels["istio.io/dataplane-mode"] == "ambient"

ambient if {
	ns_labels["istio.io/dataplane-mode"] == "ambient"
	not pod_labels["istio.io/dataplane-mode"] == "none"
}

will_inject if {
	ns_labels["istio-injection"] == "enabled"
	not pod_labels["sidecar.istio.io/inject"] == "false"
}

will_inject if {
	ns_labels["istio.io/rev"]
	not ns_labels["istio-injection"]
	not pod_labels["sidecar.istio.io/inject"] == "false"
}

will_inject if {
	not ns_labels["istio-injection"]
	not ns_labels["istio.io/rev"]
	pod_labels["sidecar.istio.io/inject"] == "true"
}

in_mesh if has_proxy

in_mesh if ambient

in_mesh if {
	request.kind.kind != "Pod"
	will_inject
}

deny if {
	template
	request.operation == "CREATE"
	not exempt[request.namespace]
	not template.spec.hostNetwork
	not in_mesh
}

response := {"uid": request.uid, "allowed": false, "status": {"code": 403, "message": sprintf("%s %s/%s would run outside the Istio mesh", [request.kind.kind, request.namespace, request.name])}} if deny

else := {"uid": request.uid, "allowed": true}

review := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
