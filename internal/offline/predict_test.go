package offline

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// predictText runs Predict on YAML streams, with the CLI's defaults.
func predictText(t *testing.T, inputs, profiles string, labels map[string]map[string]string) (*Result, error) {
	t.Helper()
	in, err := Split("in.yaml", []byte(inputs))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Split("profiles.yaml", []byte(profiles))
	if err != nil {
		t.Fatal(err)
	}
	return Predict(in, pr, Options{Namespace: "default", OutriggerNamespace: "outrigger-system", NamespaceLabels: labels})
}

func mustPredict(t *testing.T, inputs, profiles string) *Result {
	t.Helper()
	res, err := predictText(t, inputs, profiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// deployment is a Deployment manifest with the given namespace ("" for none) and workload labels.
func deployment(name, namespace string, labels ...string) string {
	ns := ""
	if namespace != "" {
		ns = "\n  namespace: " + namespace
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s%s
  labels: {%s}
spec:
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      containers:
      - name: app
        image: app:1
`, name, ns, strings.Join(labels, ", "), name, name)
}

// statefulSet is a StatefulSet manifest labelled app=<name>, whose app mounts the volume of its one
// volumeClaimTemplate, named claim.
func statefulSet(name, claim string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  serviceName: %[1]s
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: app:1
        volumeMounts: [{name: %[2]s, mountPath: /var/lib/app}]
  volumeClaimTemplates:
  - metadata: {name: %[2]s}   # the pods get a volume of this name
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`, name, claim)
}

// daemonSet is a DaemonSet manifest labelled app=<name>.
func daemonSet(name string) string {
	return strings.Replace(deployment(name, "", "app: "+name), "kind: Deployment", "kind: DaemonSet", 1)
}

// sidecarProfile is a profile whose spec has the given extra YAML, and one sidecar named after it.
func sidecarProfile(kind, name, namespace, spec string) string {
	ns := ""
	if namespace != "" {
		ns = "\n  namespace: " + namespace
	}
	return fmt.Sprintf(`apiVersion: sidecars.outrigger.dev/v1alpha1
kind: %s
metadata:
  name: %s%s
spec:
%s
  sidecars:
  - name: %s
    image: %s:1
`, kind, name, ns, indentSpec(spec), name, name)
}

func indentSpec(spec string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(spec), "\n") {
		out = append(out, "  "+l)
	}
	return strings.Join(out, "\n")
}

func TestExplain_SaysWhyEachProfileDoesOrDoesNotSelect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		workload string
		profile  string
		labels   map[string]map[string]string
		selected bool
		want     string // in the reason, or the outcome when selected
	}{{
		name:     "Selected",
		workload: deployment("web", "", "app: web"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {matchLabels: {app: web}}"),
		selected: true, want: "Injected",
	}, {
		name:     "WrongNamespace",
		workload: deployment("web", "shop", "app: web"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "other", "selector: {}"),
		want:     "wrong namespace: a SidecarProfile selects only workloads of its own namespace, other; the workload is in shop",
	}, {
		name:     "MissingWorkloadLabel",
		workload: deployment("web", "", "tier: front"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {matchLabels: {app: web}}"),
		want:     "spec.selector requires app=web, but the workload has no label app",
	}, {
		name:     "MismatchingWorkloadLabel",
		workload: deployment("web", "", "app: api"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {matchExpressions: [{key: app, operator: In, values: [web, shop]}]}"),
		want:     "spec.selector requires app in (shop,web), but the workload has app=api",
	}, {
		name:     "WorkloadKinds",
		workload: deployment("web", "", "app: web"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [Job, CronJob]"),
		want:     "spec.workloadKinds [Job CronJob] does not include Deployment",
	}, {
		// A profile written before StatefulSets and DaemonSets were injected keeps the kinds it had.
		name:     "StatefulSetWithoutWorkloadKinds",
		workload: statefulSet("db", "pgdata"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"),
		want: "spec.workloadKinds is empty, which means [Deployment, Job, CronJob] (fixed, so that upgrading Outrigger never " +
			"reaches a new kind by itself): to reach a StatefulSet, list every kind wanted: workloadKinds: [Deployment, Job, CronJob, StatefulSet]",
	}, {
		name:     "DaemonSetWithoutWorkloadKinds",
		workload: daemonSet("agent"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"),
		want:     "to reach a DaemonSet, list every kind wanted: workloadKinds: [Deployment, Job, CronJob, DaemonSet]",
	}, {
		name:     "StatefulSetNotListed",
		workload: statefulSet("db", "pgdata"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [Deployment, DaemonSet]"),
		want:     "spec.workloadKinds [Deployment DaemonSet] does not include StatefulSet",
	}, {
		name:     "StatefulSetListed",
		workload: statefulSet("db", "pgdata"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [StatefulSet]"),
		selected: true, want: "Injected",
	}, {
		name:     "DaemonSetListed",
		workload: daemonSet("agent"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [DaemonSet]"),
		selected: true, want: "Injected",
	}, {
		// The pods get a volume named like each claim template: the cluster reports the same conflict.
		name:     "VolumeNamedLikeAClaimTemplate",
		workload: statefulSet("db", "data"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [StatefulSet]\nvolumes: [{name: data, emptyDir: {}}]"),
		selected: true, want: `Conflicted: volume "data" (spec.volumes[0].name) is already used by the StatefulSet's volumeClaimTemplates: rename it in the profile`,
	}, {
		name:     "OptedOut",
		workload: deployment("web", "", "app: web", "sidecars.outrigger.dev/inject: disabled"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"),
		want:     "the workload opted out with the label sidecars.outrigger.dev/inject=disabled",
	}, {
		name:     "NamespaceSelectorWithoutKnownLabels",
		workload: deployment("web", "shop", "app: web"),
		profile:  sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}\nnamespaceSelector: {matchLabels: {mesh: enabled}}"),
		want: "spec.namespaceSelector requires mesh=enabled, but namespace shop has no label mesh (the CLI knows namespace shop " +
			"only by its name: add its Namespace object to the inputs, or pass --namespace-labels shop=KEY=VALUE)",
	}, {
		name:     "NamespaceSelectorWithAnotherValue",
		workload: deployment("web", "shop", "app: web"),
		profile:  sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}\nnamespaceSelector: {matchLabels: {mesh: enabled}}"),
		labels:   map[string]map[string]string{"shop": {"mesh": "off"}},
		want:     "spec.namespaceSelector requires mesh=enabled, but namespace shop has mesh=off",
	}, {
		name:     "NamespaceSelectorFromTheFlag",
		workload: deployment("web", "shop", "app: web"),
		profile:  sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}\nnamespaceSelector: {matchLabels: {mesh: enabled}}"),
		labels:   map[string]map[string]string{"shop": {"mesh": "enabled"}},
		selected: true, want: "Injected",
	}, {
		name:     "NamespaceSelectorOnTheNameLabel",
		workload: deployment("web", "shop", "app: web"),
		profile:  sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}\nnamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}"),
		selected: true, want: "Injected",
	}, {
		name:     "ProtectedNamespace",
		workload: deployment("dns", "kube-system", "app: dns"),
		profile:  sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}"),
		want:     "protected namespace: ClusterSidecarProfiles never select kube-system or Outrigger's namespace (outrigger-system)",
	}, {
		name:     "SidecarProfileInANamespaceTheWebhookNeverSees",
		workload: deployment("manager", "outrigger-system", "app: manager"),
		profile:  sidecarProfile("SidecarProfile", "proxy", "outrigger-system", "selector: {}"),
		want:     "the admission webhook never sees namespace outrigger-system, so nothing is injected at creation",
	}, {
		name:     "StatefulSetInANamespaceTheWebhookNeverSees",
		workload: strings.Replace(statefulSet("db", "pgdata"), "  name: db\n", "  name: db\n  namespace: outrigger-system\n", 1),
		profile:  sidecarProfile("SidecarProfile", "proxy", "outrigger-system", "selector: {}\nworkloadKinds: [StatefulSet]"),
		want:     "nothing is injected at creation; the reconciler injects the StatefulSet there afterwards",
	}, {
		name: "JobInANamespaceTheWebhookNeverSees",
		workload: strings.Replace(strings.Replace(deployment("once", "outrigger-system"), "apps/v1\nkind: Deployment", "batch/v1\nkind: Job", 1),
			"    spec:\n", "    spec:\n      restartPolicy: Never\n", 1),
		profile: sidecarProfile("SidecarProfile", "proxy", "outrigger-system", "selector: {}"),
		want:    "nothing is injected at creation; a Job's pod template cannot change, so it never gets them",
	}, {
		name:     "Conflict",
		workload: deployment("proxy", "", "app: proxy"),
		profile:  sidecarProfile("SidecarProfile", "app", "", "selector: {}"),
		selected: true, want: `container "app" (spec.sidecars[0].name) is already used by the workload: rename it in the profile`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := predictText(t, tc.workload, tc.profile, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Workloads) != 1 || len(res.Workloads[0].Profiles) != 1 {
				t.Fatalf("reports = %+v, want one workload with one profile", res.Workloads)
			}
			v := res.Workloads[0].Profiles[0]
			got := v.Reason
			if v.Selected {
				got = v.Outcome + ": " + strings.Join(v.Conflicts, "; ")
			}
			if v.Selected != tc.selected || !strings.Contains(got, tc.want) {
				t.Errorf("verdict = %+v\nwant selected=%v and %q", v, tc.selected, tc.want)
			}
			if !tc.selected && res.Documents[0].Changed {
				t.Errorf("a workload no profile selects was changed")
			}
		})
	}
}

// Outrigger edits only a StatefulSet's pod template: its volumeClaimTemplates, comments included, stay as
// written, and the app keeps its mount of the claim.
func TestPredict_AStatefulSetKeepsItsClaimTemplatesAsWritten(t *testing.T) {
	in := statefulSet("db", "pgdata")
	profile := sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nworkloadKinds: [StatefulSet]\n"+
		"volumes: [{name: data, emptyDir: {}}]\nappContainerMounts: [{name: data, mountPath: /data}]")
	res := mustPredict(t, in, profile)
	out := string(res.Documents[0].Text)
	_, claims, _ := strings.Cut(in, "  volumeClaimTemplates:")
	if !res.Documents[0].Changed || !strings.HasSuffix(out, "  volumeClaimTemplates:"+claims) {
		t.Fatalf("want the sidecar injected and the claim templates as written:\n%s", out)
	}
	var s appsv1.StatefulSet
	if err := sigsyaml.UnmarshalStrict(res.Documents[0].Text, &s); err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, m := range s.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts = append(mounts, m.Name+":"+m.MountPath)
	}
	if got := strings.Join(mounts, ","); got != "pgdata:/var/lib/app,data:/data" {
		t.Errorf("app mounts = %s, want the claim's, then the profile's", got)
	}
}

func TestExplain_ListsSelectingProfilesFirstInPlacementOrder(t *testing.T) {
	profiles := strings.Join([]string{
		sidecarProfile("SidecarProfile", "b-late", "", "selector: {}\norder: 10"),
		sidecarProfile("SidecarProfile", "a-other", "elsewhere", "selector: {}"),
		sidecarProfile("ClusterSidecarProfile", "c-early", "", "selector: {}\norder: -5"),
	}, "---\n")
	res := mustPredict(t, deployment("web", "", "app: web"), profiles)
	var got []string
	for _, v := range res.Workloads[0].Profiles {
		got = append(got, fmt.Sprintf("%s:%v", v.Profile, v.Selected))
	}
	want := "ClusterSidecarProfile c-early:true,SidecarProfile default/b-late:true,SidecarProfile elsewhere/a-other:false"
	if strings.Join(got, ",") != want {
		t.Errorf("verdicts = %s\nwant %s", strings.Join(got, ","), want)
	}
}

func TestPredict_NamespaceObjectsAmongTheInputsGiveLabels(t *testing.T) {
	inputs := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {mesh: enabled}\n---\n" + deployment("web", "shop")
	profile := sidecarProfile("ClusterSidecarProfile", "proxy", "", "selector: {}\nnamespaceSelector: {matchLabels: {mesh: enabled}}")
	res := mustPredict(t, inputs, profile)
	if !res.Documents[1].Changed {
		t.Errorf("the Deployment in the labelled namespace was not injected: %+v", res.Workloads[0])
	}
	if res.Documents[0].Changed {
		t.Errorf("the Namespace was changed")
	}
}

func TestPredict_InvalidProfiles(t *testing.T) {
	valid := func(kind, spec string) string { return sidecarProfile(kind, "p", "", spec) }
	raw := func(spec string) string {
		return "apiVersion: sidecars.outrigger.dev/v1alpha1\nkind: SidecarProfile\nmetadata: {name: p}\nspec:\n" + indentSpec(spec) + "\n"
	}
	for _, tc := range []struct {
		name, profiles, want string
	}{
		{"SelectorRequired", valid("SidecarProfile", "workloadKinds: [Job]"), "spec.selector: Required value"},
		{"SelectorOperator", valid("SidecarProfile", "selector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}"), "spec.selector: Invalid value: spec.selector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"},
		{"SelectorValues", valid("SidecarProfile", "selector: {matchExpressions: [{key: a, operator: In}]}"), "spec.selector.matchExpressions[].values must be non-empty for In and NotIn (list the values)"},
		{"NamespaceSelector", valid("ClusterSidecarProfile", "selector: {}\nnamespaceSelector: {matchLabels: {'bad key!': x}}"), "spec.namespaceSelector is invalid"},
		{"SelectorLabelSyntax", valid("SidecarProfile", "selector: {matchLabels: {app: 'not a value'}}"), `spec.selector is invalid: values[0][app]: Invalid value: "not a value": a valid label must be an empty string or consist of alphanumeric characters`},
		{"NoSidecar", raw("selector: {}"), "spec.sidecars: Required value"},
		{"SidecarName", raw("selector: {}\nsidecars: [{name: Log_Shipper, image: x}]"), "spec.sidecars[0].name: Invalid value: name must be a DNS label"},
		{"SidecarNamesUnique", raw("selector: {}\nsidecars: [{name: a, image: x}, {name: a, image: z}]"), `spec.sidecars[1]: Duplicate value: {"name":"a"}`},
		{"RestartPolicy", raw("selector: {}\nsidecars: [{name: a, image: x, restartPolicy: Never}]"), "spec.sidecars[0].restartPolicy: Invalid value: restartPolicy must be left out or set to Always"},
		{"MountOfAnUndeclaredVolume", valid("SidecarProfile", "selector: {}\nappContainerMounts: [{name: data, mountPath: /data}]"), "spec.appContainerMounts[].name must name a volume declared in spec.volumes: add the volume there, or fix the name"},
		{"MountPath", valid("SidecarProfile", "selector: {}\nvolumes: [{name: data, emptyDir: {}}]\nappContainerMounts: [{name: data, mountPath: data}]"), `spec.appContainerMounts[0].mountPath: Invalid value: "data": spec.appContainerMounts[0].mountPath in body should match '^/'`},
		{"VolumeName", valid("SidecarProfile", "selector: {}\nvolumes: [{name: Data, emptyDir: {}}]"), "spec.volumes[0].name: Invalid value: name must be a DNS label"},
		{"WorkloadKind", valid("SidecarProfile", "selector: {}\nworkloadKinds: [ReplicaSet]"), `spec.workloadKinds[0]: "ReplicaSet" is not a kind Outrigger injects into here: the kinds are Deployment, Job, CronJob, StatefulSet, DaemonSet, Rollout`},
		{"WorkloadKindNotAName", valid("SidecarProfile", "selector: {}\nworkloadKinds: [replicaset]"), `spec.workloadKinds[0]: Invalid value: "replicaset": spec.workloadKinds[0] in body should match`},
		{"Placement", valid("SidecarProfile", "selector: {}\nplacement: Last"), `spec.placement: Unsupported value: "Last": supported values: "BeforeInitContainers", "AfterInitContainers"`},
		{"Order", valid("SidecarProfile", "selector: {}\norder: 5000"), "spec.order: Invalid value: 5000: spec.order in body should be less than or equal to 1000"},
		{"DuplicateField", valid("SidecarProfile", "selector: {}\nselector: {}"), `"selector" already set`},
		{"UnknownField", valid("SidecarProfile", "selector: {}\nsidecar: {}"), "unknown field \"spec.sidecar\": remove or fix the field (see `kubectl explain sidecarprofiles.spec`)"},
		{"UnknownSidecarField", raw("selector: {}\nsidecars: [{name: a, image: x, colour: red}]"), "unknown field \"spec.sidecars[0].colour\": remove or fix the field (see `kubectl explain sidecarprofiles.spec.sidecars`)"},
		{"UnknownMetadataField", strings.Replace(valid("SidecarProfile", "selector: {}"), "metadata:\n", "metadata:\n  label: {}\n", 1), `unknown field "metadata.label"`},
		{"NameRequired", strings.Replace(valid("SidecarProfile", "selector: {}"), "name: p\n", "", 1), "metadata.name: Required value: name or generateName is required"},
		{"NameNotADNSSubdomain", strings.Replace(valid("SidecarProfile", "selector: {}"), "name: p\n", "name: Bad_Name\n", 1), "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"},
		{"RulesNotChecked", raw("sidecars: [{name: Bad_Name, image: x}]"), "): some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"},
		{"APIVersion", strings.Replace(valid("SidecarProfile", "selector: {}"), "v1alpha1", "v1", 1), `apiVersion "sidecars.outrigger.dev/v1" is not served`},
		{"GivenTwice", valid("SidecarProfile", "selector: {}") + "---\n" + valid("SidecarProfile", "selector: {}"), "is given twice"},
		{"CollidingNames", sidecarProfile("SidecarProfile", "logs", "", "selector: {}") + "---\n" +
			strings.Replace(sidecarProfile("ClusterSidecarProfile", "other", "", "selector: {}"), "name: other\n    image", "name: logs\n    image", 1),
			`ClusterSidecarProfile other (profiles.yaml, document 2): sidecar "logs" (spec.sidecars[0].name) collides with SidecarProfile default/logs, which can select the same workloads: rename it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := predictText(t, deployment("web", ""), tc.profiles, nil)
			var invalid *InvalidProfilesError
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v, want an InvalidProfilesError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "profiles.yaml, document") {
				t.Errorf("err = %v: does not say where the profile is", err)
			}
		})
	}
}

func TestPredict_ValidSamplesPass(t *testing.T) {
	for _, f := range []string{
		"../../config/samples/sidecars_v1alpha1_sidecarprofile.yaml",
		"../../config/samples/sidecars_v1alpha1_clustersidecarprofile.yaml",
	} {
		docs, err := (&Reader{}).Read([]string{f})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Predict(nil, docs, Options{Namespace: "default"}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestRewrite_KeepsTheTextOutsideThePodTemplateAndTheCommentsInIt(t *testing.T) {
	in := `# Head comment of the document.
apiVersion: apps/v1
kind: Deployment
metadata:
    name: web   # odd spacing stays
    labels:
        app: web
spec:

    selector:
        matchLabels: {app: web}
    template:   # the pod template
        # head of the template's content
        metadata:
            labels:
                app: web # pods carry it
        spec:
            containers:
                # the app
                - name: web
                  image: 'web:1'   # pinned, quoted
                  args: ["--port", "8080"]
            # foot of the template
# A comment that belongs to strategy.

    strategy: {type: Recreate}
`
	res := mustPredict(t, in, sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"))
	out := string(res.Documents[0].Text)
	head, _, _ := strings.Cut(in, "    template:")
	if !strings.HasPrefix(out, head+"    template:   # the pod template\n") {
		t.Errorf("the text before the pod template changed:\n%s", out)
	}
	tail := "\n# A comment that belongs to strategy.\n\n    strategy: {type: Recreate}\n"
	if !strings.HasSuffix(out, tail) {
		t.Errorf("the text after the pod template changed:\n%s", out)
	}
	for _, kept := range []string{"# head of the template's content", "app: web # pods carry it", "# the app",
		"image: 'web:1' # pinned, quoted", `args: ["--port", "8080"]`, "# foot of the template", "                - name: proxy\n", "                  restartPolicy: Always\n"} {
		if !strings.Contains(out, kept) {
			t.Errorf("output lacks %q (4-space indentation, indented sequences):\n%s", kept, out)
		}
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
}

func TestRewrite_FallsBackWhenThePatchRunsIntoAMergeKey(t *testing.T) {
	in := `# defaults shared by the pod templates
x-pod: &pod
  containers:
  - name: web
    image: web:1
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      <<: *pod
`
	res, err := predictText(t, in, sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nvolumes: [{name: v, emptyDir: {}}]\nappContainerMounts: [{name: v, mountPath: /v}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := sigsyaml.Unmarshal(res.Documents[0].Text, &d); err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 || len(spec.Containers[0].VolumeMounts) != 1 || spec.Containers[0].Image != "web:1" {
		t.Errorf("pod spec = %+v, want web:1 with the mount and the proxy", spec)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "comments in this document could not be kept") {
		t.Errorf("warnings = %v, want one about comments", res.Warnings)
	}
}

func TestRewrite_JSONDocumentsBecomeYAML(t *testing.T) {
	in := `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"once"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"once","image":"once:1"}]}}}}`
	res := mustPredict(t, in, sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"))
	out := string(res.Documents[0].Text)
	if !strings.HasPrefix(out, "apiVersion: batch/v1\nkind: Job\n") || !strings.Contains(out, "restartPolicy: Always") {
		t.Errorf("output is not block YAML with the sidecar:\n%s", out)
	}
}

func TestPredict_AManifestWithABadInjectionAnnotationIsLeftAsTheWebhookLeavesIt(t *testing.T) {
	in := strings.Replace(deployment("web", "", "app: web"), "      labels: {app: web}\n", "      labels: {app: web}\n      annotations: {sidecars.outrigger.dev/injection: '{oops'}\n", 1)
	res := mustPredict(t, in, sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"))
	if res.Documents[0].Changed || !strings.Contains(res.Workloads[0].Note, "annotation "+v1alpha1.InjectionAnnotation) {
		t.Errorf("changed = %v, note = %q; want unchanged with a note on the annotation", res.Documents[0].Changed, res.Workloads[0].Note)
	}
	if v := res.Workloads[0].Profiles[0]; !v.Selected || v.Outcome != "NotInjected" {
		t.Errorf("verdict = %+v, want selected and not injected", v)
	}
}

func TestPredict_AnOnCreateProfileKeepsWhatAManifestAlreadyCarries(t *testing.T) {
	profile := sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nupdatePolicy: OnCreate")
	first := mustPredict(t, deployment("web", ""), profile)
	changed := strings.Replace(profile, "image: proxy:1", "image: proxy:2", 1)
	second := mustPredict(t, string(first.Documents[0].Text), changed)
	v := second.Workloads[0].Profiles[0]
	if second.Documents[0].Changed || v.Outcome != "Kept" {
		t.Errorf("changed = %v, verdict = %+v; want the old revision kept", second.Documents[0].Changed, v)
	}
}

func TestPredict_WarnsAboutProfilesAmongTheManifestsThatAreNotGiven(t *testing.T) {
	given := sidecarProfile("SidecarProfile", "proxy", "", "selector: {}")
	other := sidecarProfile("ClusterSidecarProfile", "logs", "", "selector: {}")
	res := mustPredict(t, given+"---\n"+other, given)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "in.yaml, document 2: ClusterSidecarProfile logs is among the manifests but not used: pass it with --profiles too") {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

// The webhook holds back a profile whose sidecar mounts a volume that neither the profile nor the workload
// declares (the apiserver would refuse the pod template); so does the CLI, and it says which mount, as a
// conflict: the profile selects the workload but is not injected.
func TestPredict_HoldsBackAProfileWhoseSidecarMountsAnUndeclaredVolume(t *testing.T) {
	bad := sidecarProfile("SidecarProfile", "shipper", "", "selector: {}") + "    volumeMounts: [{name: logs, mountPath: /logs}]\n"
	res := mustPredict(t, deployment("web", "", "app: web"), bad+"---\n"+sidecarProfile("SidecarProfile", "proxy", "", "selector: {}"))
	var d appsv1.Deployment
	if err := sigsyaml.Unmarshal(res.Documents[0].Text, &d); err != nil {
		t.Fatal(err)
	}
	if ic := d.Spec.Template.Spec.InitContainers; len(ic) != 1 || ic[0].Name != "proxy" {
		t.Errorf("init containers = %+v, want only the proxy", ic)
	}
	conflicts := strings.Join(res.Workloads[0].Conflicts(), "\n")
	if !strings.Contains(conflicts, `SidecarProfile default/shipper not injected: sidecar "shipper" (spec.sidecars[0].volumeMounts[0].name) mounts volume "logs"`) {
		t.Errorf("conflicts = %s", conflicts)
	}
}

// The cluster stores a profile with the CRD's defaults and hashes that: a port without a protocol is stored with
// protocol TCP. The CLI applies the same defaults, so the revision it writes in the injection annotation is the
// one the webhook writes, whether the profile leaves the defaults out or spells them.
func TestPredict_DefaultsTheProfileAsTheAPIServerStoresIt(t *testing.T) {
	short := sidecarProfile("SidecarProfile", "proxy", "", "selector: {}") + "    ports: [{containerPort: 3128}]\n"
	spelled := sidecarProfile("SidecarProfile", "proxy", "", "selector: {}\nplacement: BeforeInitContainers\norder: 0\nupdatePolicy: Rollout") +
		"    ports: [{containerPort: 3128, protocol: TCP}]\n"
	a := mustPredict(t, deployment("web", ""), short)
	b := mustPredict(t, deployment("web", ""), spelled)
	ra, rb := a.Workloads[0].Profiles[0].Revision, b.Workloads[0].Profiles[0].Revision
	if ra == "" || ra != rb {
		t.Errorf("revisions %q (defaults left out) and %q (spelled out) differ", ra, rb)
	}
	if !strings.Contains(string(a.Documents[0].Text), "protocol: TCP") {
		t.Errorf("the injected sidecar lacks the defaulted protocol:\n%s", a.Documents[0].Text)
	}
}

// A profile exported with its status, rolling a change out in waves: explain says which revision each workload
// gets at admission and why; the canary gets the candidate.
func TestExplain_SaysWhichRevisionARolloutInWavesGives(t *testing.T) {
	spec := v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "logshipper", Image: "logs:2"}}},
		Rollout:  v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryWave{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "canary"}}}},
	}
	candidate := inject.Revision(&spec)
	p := &v1alpha1.SidecarProfile{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SidecarProfile"},
		ObjectMeta: metav1.ObjectMeta{Name: "logs", Namespace: "default"}, Spec: spec,
		// Wave 1 covers the canary's ranks ("0..."), not the others' ("1...").
		Status: v1alpha1.SidecarProfileStatus{Rollout: &v1alpha1.RolloutStatus{StableRevision: "0123456789abcdef",
			CandidateRevision: candidate, Wave: 1, Waves: 3, Rank: "0" + strings.Repeat("f", 16)}}}
	raw, err := sigsyaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	res := mustPredict(t, deployment("canary", "", "tier: canary")+"---\n"+deployment("web", ""), string(raw))
	var out strings.Builder
	if err := WriteExplanation(&out, res.Workloads, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"+ SidecarProfile default/logs: selects it, Injected (revision " + candidate + "): logshipper\n" +
			"      rollout: gets the candidate " + candidate + ": the workload's place in the rollout order is within the open waves (1 of 3)\n",
		"      rollout: gets the stable revision 0123456789abcdef: the rollout of revision " + candidate + " has 1 of 3 waves open, not yet the workload's; its content is in the cluster",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain does not say\n%s\nin:\n%s", want, out.String())
		}
	}
}
