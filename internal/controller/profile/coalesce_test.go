package profile

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestStatusPacer(t *testing.T) {
	p := newStatusPacer()
	web := types.NamespacedName{Namespace: "shop", Name: "logs"}
	if got := p.window(web); got != StatusCoalesceWindow {
		t.Errorf("window before any computation = %s, want %s", got, StatusCoalesceWindow)
	}
	p.record(web, 10*time.Millisecond) // cheap: the least window
	if got := p.window(web); got != StatusCoalesceWindow {
		t.Errorf("window after a cheap computation = %s, want %s", got, StatusCoalesceWindow)
	}
	p.record(web, 300*time.Millisecond) // costly: spaced by ten times its cost
	if got := p.window(web); got != 3*time.Second {
		t.Errorf("window after a 300ms computation = %s, want 3s", got)
	}
	p.forget(web)
	if got := p.window(web); got != StatusCoalesceWindow {
		t.Errorf("window after forget = %s, want %s", got, StatusCoalesceWindow)
	}
	var unset *statusPacer
	unset.record(web, time.Second) // a reconciler without a manager: no panic
}
