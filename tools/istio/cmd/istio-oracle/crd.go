//go:build istio_oracle

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"istio.io/istio/manifests"
)

// The API server validates a custom resource against its CRD before any validating webhook (istiod's) sees it:
// it prunes unknown fields, checks the OpenAPI schema (types, enums, minProperties, ...) and runs the CRD's
// x-kubernetes-validations CEL rules. The CRD is Istio's own, embedded in istio.io/istio/manifests
// (charts/base/files/crd-all.gen.yaml); the checks are kube-apiserver's own packages from apiextensions-apiserver.

const crdFile = "charts/base/files/crd-all.gen.yaml"

type crdVersion struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	crdOnce     sync.Once
	crdVersions map[string]*crdVersion
	crdErr      error
)

func loadCRD() (map[string]*crdVersion, error) {
	crdOnce.Do(func() {
		data, err := manifests.FS.ReadFile(crdFile)
		if err != nil {
			crdErr = err
			return
		}
		for _, doc := range splitYAML(data) {
			if !strings.Contains(string(doc), "name: peerauthentications.security.istio.io") {
				continue
			}
			var crd apiextv1.CustomResourceDefinition
			if err := yaml.Unmarshal(doc, &crd); err != nil {
				crdErr = err
				return
			}
			if crd.Name != "peerauthentications.security.istio.io" {
				continue
			}
			crdVersions = map[string]*crdVersion{}
			for _, v := range crd.Spec.Versions {
				if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
					continue
				}
				internal := &apiext.JSONSchemaProps{}
				if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
					crdErr = err
					return
				}
				s, err := structuralschema.NewStructural(internal)
				if err != nil {
					crdErr = err
					return
				}
				val, _, err := apiservervalidation.NewSchemaValidator(internal)
				if err != nil {
					crdErr = err
					return
				}
				crdVersions[crd.Spec.Group+"/"+v.Name] = &crdVersion{
					structural: s, validator: val, cel: cel.NewValidator(s, true, celconfig.PerCallLimit),
				}
			}
			return
		}
		crdErr = fmt.Errorf("no peerauthentications.security.istio.io CRD in %s", crdFile)
	})
	return crdVersions, crdErr
}

// apiServerAdmit returns the spec as the API server stores it (unknown fields pruned), or the API server's refusal.
func apiServerAdmit(p paPolicy, kind string) (json.RawMessage, []string, error) {
	versions, err := loadCRD()
	if err != nil {
		return nil, nil, err
	}
	v, ok := versions[p.APIVersion]
	if !ok {
		return nil, nil, fmt.Errorf("the server could not find the requested resource (apiVersion %q is not served)", p.APIVersion)
	}
	spec := p.Spec
	if len(spec) == 0 {
		spec = json.RawMessage("{}")
	}
	var specObj any
	if err := json.Unmarshal(spec, &specObj); err != nil {
		return nil, nil, err
	}
	obj := map[string]any{
		"apiVersion": p.APIVersion, "kind": kind,
		"metadata": map[string]any{"name": p.Name, "namespace": p.Namespace},
		"spec":     specObj,
	}
	// As customresource_handler.go decodes a CR: prune unknown fields, drop nulls of non-nullable fields,
	// then default (the PeerAuthentication CRD has no defaults), then validate (schema, then CEL rules).
	pruned := pruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	structuraldefaulting.Default(obj, v.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, v.validator)
	if len(errs) == 0 {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) > 0 {
		return nil, pruned, fmt.Errorf("PeerAuthentication.security.istio.io %q is invalid: %s", p.Name, errs.ToAggregate().Error())
	}
	out, err := json.Marshal(obj["spec"])
	return out, pruned, err
}
