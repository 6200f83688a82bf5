package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/offline"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

const (
	timeout  = time.Minute
	interval = 100 * time.Millisecond
)

// strict is how kubectl creates objects, and so how the CLI reads them: unknown and duplicate fields are errors.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

// Every bad profile of the table is refused by the cluster and by the CLI, and every message of the cluster's
// refusal (each field error of the apiserver, or the validating webhook's reason) is in the CLI's; or, for a
// mistake that only shows on a workload, the cluster lists the workload in the profile's status and the CLI
// reports a conflict on it.
func TestBadProfiles_TheCLIRefusesWhatTheClusterRefuses(t *testing.T) {
	rows := profilecases.BadProfiles()
	if len(rows) < 25 {
		t.Fatalf("the table has %d rows: keep at least 25, one per rule and per kind of bad input", len(rows))
	}
	for i, row := range rows {
		t.Run(row.Name, func(t *testing.T) {
			name := unique(fmt.Sprintf("bad-%d", i))
			ns := newNamespace(t, name, nil)
			var before []client.Object
			if row.Before != nil {
				before = row.Before(ns)
			}
			obj := row.Profile(ns, name)
			// The CLI reads the objects as written, before the apiserver fills them in.
			res, cliErr := predict(t, ns, append(before, obj))
			create(t, before...)
			clusterErr := k8s.Create(context.Background(), obj, append(row.Opts, strict)...)
			if clusterErr == nil {
				t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
			}

			switch row.Outcome {
			case profilecases.Refused:
				if clusterErr == nil {
					t.Fatalf("the cluster accepted the profile")
				}
				var invalid *offline.InvalidProfilesError
				if !errors.As(cliErr, &invalid) {
					t.Fatalf("the cluster refused the profile (%v), the CLI did not: %v", clusterErr, cliErr)
				}
				for _, msg := range clusterMessages(t, clusterErr, sameWording) {
					if !strings.Contains(cliErr.Error(), msg) {
						t.Errorf("the cluster says %q; the CLI does not:\n%v", msg, cliErr)
					}
				}
				for _, want := range row.Want {
					if !strings.Contains(clusterErr.Error(), want) || !strings.Contains(cliErr.Error(), want) {
						t.Errorf("want %q in both; the cluster says\n%v\nthe CLI says\n%v", want, clusterErr, cliErr)
					}
				}
				t.Logf("cluster: %v\nCLI: %v", clusterErr, cliErr)

			case profilecases.NeedsAttention:
				if clusterErr != nil || cliErr != nil {
					t.Fatalf("the profile is fine on its own; the cluster says %v, the CLI says %v", clusterErr, cliErr)
				}
				msg := eventually(t, func() (string, error) {
					st := profileStatus(t, obj)
					if len(st.NeedsAttention) != 1 {
						return "", fmt.Errorf("status.needsAttention = %+v, want one workload", st.NeedsAttention)
					}
					return st.NeedsAttention[0].Message, nil
				})
				var conflicts []string
				for _, w := range res.Workloads {
					conflicts = append(conflicts, w.Conflicts()...)
				}
				cli := strings.Join(conflicts, "\n")
				offlineWant := row.OfflineWant
				if offlineWant == nil {
					offlineWant = row.Want
				}
				for _, want := range row.Want {
					if !strings.Contains(msg, want) {
						t.Errorf("the profile's status says %q; want %q in it", msg, want)
					}
				}
				for _, want := range offlineWant {
					if len(conflicts) != 1 || !strings.Contains(cli, want) || !strings.Contains(cli, selection.Name(obj.(selection.Profile))) {
						t.Errorf("the CLI reports %q; want one conflict of the profile, with %q", cli, want)
					}
				}
				t.Logf("cluster: %s\nCLI: %s", msg, cli)
			}
		})
	}
}

// On profiles that leave out fields the CRD defaults, the CLI writes the injection annotation the mutating
// webhook stores on the same Deployment, byte for byte: the same revision, which is the engine's hash of the
// profile as the apiserver stored it (defaulted), not as it was written.
func TestDefaultedProfiles_TheCLIWritesTheRevisionTheClusterStores(t *testing.T) {
	for i, row := range profilecases.DefaultedProfiles() {
		t.Run(row.Name, func(t *testing.T) {
			ns := unique(fmt.Sprintf("defaulted-%d", i))
			nsObj := newNamespace(t, ns, map[string]string{profilecases.NamespaceLabel: ns})
			obj := row.Profile(nsObj, ns)
			written := inject.Revision(obj.(selection.Profile).ProfileSpec().DeepCopy())
			dep := profilecases.NewDeployment(ns, "web")
			namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{profilecases.NamespaceLabel: ns}}}

			res, err := predict(t, ns, []client.Object{namespace, dep, obj})
			if err != nil {
				t.Fatalf("the CLI refuses the profile: %v", err)
			}
			var cliDep appsv1.Deployment
			doc := documentOf(t, res, "Deployment")
			if err := sigsyaml.UnmarshalStrict(doc.Text, &cliDep); err != nil {
				t.Fatal(err)
			}
			cliAnnotation := cliDep.Spec.Template.Annotations[v1alpha1.InjectionAnnotation]

			if err := k8s.Create(context.Background(), obj, strict); err != nil {
				t.Fatalf("the cluster refuses the profile: %v", err)
			}
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
			stored := eventually(t, func() (selection.Profile, error) { // the manager's cache, which the webhook reads, has it
				p := obj.DeepCopyObject().(selection.Profile)
				if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), p); err != nil {
					return nil, err
				}
				if p.ProfileStatus().ObservedGeneration != p.GetGeneration() {
					return nil, fmt.Errorf("status.observedGeneration = %d", p.ProfileStatus().ObservedGeneration)
				}
				return p, nil
			})
			create(t, dep)
			var clusterDep appsv1.Deployment
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(dep), &clusterDep); err != nil {
				t.Fatal(err)
			}
			clusterAnnotation := clusterDep.Spec.Template.Annotations[v1alpha1.InjectionAnnotation]

			revision := inject.Revision(stored.ProfileSpec())
			if clusterAnnotation == "" || cliAnnotation != clusterAnnotation {
				t.Errorf("injection annotation:\nCLI:     %s\ncluster: %s", cliAnnotation, clusterAnnotation)
			}
			if !strings.Contains(clusterAnnotation, `"hash":"`+revision+`"`) {
				t.Errorf("the cluster's annotation %s lacks the revision of the stored profile, %s", clusterAnnotation, revision)
			}
			if v := verdictOf(t, res, selection.Name(stored)); v.Revision != revision {
				t.Errorf("explain gives revision %s, the stored profile's is %s", v.Revision, revision)
			}
			if !row.SameRevision && written == revision {
				t.Errorf("the profile as written hashes to the stored revision %s: the row tests no default", revision)
			}
			t.Logf("written %s, stored %s, annotation %s", written, revision, clusterAnnotation)
		})
	}
}

// predict runs the CLI's engine on the objects, as `outrigger inject -n ns` would on their manifests: the
// profiles among them are given with --profiles (in order: the webhook refuses the second of two that collide),
// the rest with -f.
func predict(t *testing.T, ns string, objs []client.Object) (*offline.Result, error) {
	t.Helper()
	var inputs, profiles []*offline.Document
	for i, o := range objs {
		gvk, err := apiutil.GVKForObject(o, scheme)
		if err != nil {
			t.Fatal(err)
		}
		o = o.DeepCopyObject().(client.Object)
		o.GetObjectKind().SetGroupVersionKind(gvk)
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := offline.Split(fmt.Sprintf("%s-%d.json", strings.ToLower(gvk.Kind), i), raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, isProfile := selection.NewProfile(gvk.Kind); isProfile {
			profiles = append(profiles, docs...)
		} else {
			inputs = append(inputs, docs...)
		}
	}
	return offline.Predict(inputs, profiles, offline.Options{Namespace: ns, OutriggerNamespace: "outrigger-system"})
}

// clusterMessages are what the cluster's refusal says, as the CLI must say it too: each field error of the
// apiserver ("spec.order: Invalid value: ..."), its strict decoding error, or the validating webhook's reason.
//
// An older apiserver words the same field errors differently (it prints a rule's value as "object", a duplicate
// as a Go map, a length as "longer than"), and adds a cause about no field when it skipped rules: the CLI speaks
// as the Kubernetes its libraries are of. So unless sameWording, the messages are the fields the cluster names,
// each of which the CLI must name too; the wording of our own rules is still checked through the row's Want.
func clusterMessages(t *testing.T, err error, sameWording bool) []string {
	t.Helper()
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("the cluster's error is no API status: %v", err)
	}
	s := status.Status()
	if s.Reason == metav1.StatusReasonInvalid && s.Details != nil && len(s.Details.Causes) > 0 {
		var out []string
		for _, c := range s.Details.Causes {
			if !sameWording {
				if c.Field != "" && c.Field != "<nil>" {
					out = append(out, c.Field+": ")
				}
				continue
			}
			if c.Field == "" || c.Field == "<nil>" { // about no field: the CLI says it without the prefix
				out = append(out, strings.TrimPrefix(c.Message, "Invalid value: null: "))
			} else {
				out = append(out, c.Field+": "+c.Message)
			}
		}
		return out
	}
	if _, reason, denied := strings.Cut(s.Message, "denied the request: "); denied {
		return []string{reason}
	}
	if _, unknown, ok := strings.Cut(s.Message, "strict decoding error: "); ok && s.Reason == metav1.StatusReasonBadRequest {
		var out []string
		for _, f := range strings.Split(unknown, ", ") {
			out = append(out, "strict decoding error: "+f)
		}
		return out
	}
	t.Fatalf("the cluster refuses the profile in a way the test does not know (%s): %v", s.Reason, err)
	return nil
}

func newNamespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	return name
}

// unique makes the names of one run of a test its own: go test -count runs it again against the same cluster,
// where the namespaces and cluster profiles of the run before may still be going.
func unique(name string) string { return name + "-" + utilrand.String(5) }

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(context.Background(), o, strict); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func profileStatus(t *testing.T, obj client.Object) v1alpha1.SidecarProfileStatus {
	t.Helper()
	p := obj.DeepCopyObject().(selection.Profile)
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), p); err != nil {
		t.Fatal(err)
	}
	return *p.ProfileStatus()
}

// eventually retries f until it succeeds, and fails the test after timeout.
func eventually[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

func documentOf(t *testing.T, res *offline.Result, kind string) offline.Output {
	t.Helper()
	for _, o := range res.Documents {
		if o.Changed && strings.Contains(string(o.Text), "kind: "+kind+"\n") {
			return o
		}
	}
	t.Fatalf("the CLI injected no %s: %+v", kind, res.Workloads)
	return offline.Output{}
}

func verdictOf(t *testing.T, res *offline.Result, profile string) offline.Verdict {
	t.Helper()
	for _, w := range res.Workloads {
		for _, v := range w.Profiles {
			if v.Profile == profile {
				return v
			}
		}
	}
	t.Fatalf("no verdict of %s: %+v", profile, res.Workloads)
	return offline.Verdict{}
}
