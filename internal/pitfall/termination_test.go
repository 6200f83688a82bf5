package pitfall

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func sleepHook(seconds int64) *corev1.Lifecycle {
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: seconds}}}
}

func execHook(cmd ...string) *corev1.Lifecycle {
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}}
}

func TestPitfalls_WarnsWhenTheGracePeriodLeavesTheSidecarsNoTimeAfterTheApp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grace    *int64
		app      *corev1.Lifecycle
		sidecars []corev1.Container
		want     []string // substrings of the one piece of advice; nil for none
	}{
		{name: "no preStop, the default 30 seconds", sidecars: []corev1.Container{{Name: "proxy"}}},
		{name: "the app sleeps 29 of the default 30 seconds", app: sleepHook(29), sidecars: []corev1.Container{{Name: "proxy"}},
			want: []string{"terminationGracePeriodSeconds is 30", `the preStop of the app container "app" sleeps 29 seconds`, "set terminationGracePeriodSeconds to at least 31"}},
		{name: "a sidecar's own preStop sleep counts from the deletion", grace: ptr.To[int64](10), sidecars: []corev1.Container{{Name: "proxy", Lifecycle: sleepHook(15)}},
			want: []string{`the preStop of the sidecar "proxy" sleeps 15 seconds (every preStop starts when the pod is deleted)`, "at least 17"}},
		{name: "sleeps are not added up: they run at once", app: sleepHook(10), sidecars: []corev1.Container{{Name: "proxy", Lifecycle: sleepHook(10)}, {Name: "shipper", Lifecycle: sleepHook(10)}}},
		{name: "an exec of sh -c sleep", grace: ptr.To[int64](20), app: execHook("sh", "-c", "sleep 19 && kill 1"), sidecars: []corev1.Container{{Name: "proxy"}},
			want: []string{"sleeps 19 seconds", "at least 21"}},
		{name: "an exec of /bin/sleep", grace: ptr.To[int64](5), app: execHook("/bin/sleep", "5"), sidecars: []corev1.Container{{Name: "proxy"}},
			want: []string{"sleeps 5 seconds"}},
		{name: "no preStop sleep: every container gets the kubelet's floor", grace: ptr.To[int64](1), sidecars: []corev1.Container{{Name: "proxy"}, {Name: "shipper"}}},
		{name: "two sidecars, two floors after the sleep", grace: ptr.To[int64](12), app: sleepHook(10), sidecars: []corev1.Container{{Name: "proxy"}, {Name: "shipper"}},
			want: []string{"terminationGracePeriodSeconds is 12", "then the 2 sidecars stop after the app containers, one after the other", "at least 14"}},
		{name: "an exec Outrigger cannot read counts nothing", grace: ptr.To[int64](10), app: execHook("/drain.sh"), sidecars: []corev1.Container{{Name: "proxy"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := injected(t, func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds, s.Containers[0].Lifecycle = tc.grace, tc.app }, tc.sidecars...)
			got := only(check(deployment(tmpl, 1), tmpl, Namespace{}), v1alpha1.ReasonGracePeriodTooShort)
			if tc.want == nil {
				if len(got) > 0 {
					t.Fatalf("want no advice, got %q", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one piece of advice, got %q", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("advice %q lacks %q", got[0], w)
				}
			}
		})
	}
}

func TestPreStopSleep_ReadsSleepActionsAndSleepCommands(t *testing.T) {
	for _, tc := range []struct {
		hook *corev1.Lifecycle
		want int64
	}{
		{nil, 0}, {sleepHook(7), 7}, {execHook("sleep", "12"), 12}, {execHook("bash", "-c", "sleep 3; nginx -s quit"), 3},
		{execHook("sh", "-c", "sleep 5s"), 5}, {execHook("sh", "-c", "echo bye; sleep 5"), 0}, {execHook("sleep", "infinity"), 0},
	} {
		if got := preStopSleep(&corev1.Container{Lifecycle: tc.hook}); got != tc.want {
			t.Errorf("preStopSleep(%+v) = %d, want %d", tc.hook, got, tc.want)
		}
	}
}
