package workload

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Every entry agrees with itself: its Go type is its GVK in client-go's scheme, its resource is the plural the
// scheme's default RESTMapper guesses, TemplatePath points at what Template returns, and a kind finds its pods
// one way only.
func TestRegistry_EveryEntryIsConsistent(t *testing.T) {
	for _, k := range All {
		t.Run(string(k.Name), func(t *testing.T) {
			g := NewWithT(t)
			obj := k.NewObject()
			if u, ok := obj.(*unstructured.Unstructured); ok { // a kind whose Go types Outrigger does not import
				g.Expect(u.GroupVersionKind()).To(Equal(k.GVK))
				g.Expect(k.Template).To(BeNil(), "PodTemplate reads it")
				g.Expect(unstructured.SetNestedField(u.Object, map[string]any{"metadata": map[string]any{"annotations": map[string]any{"marker": "here"}}},
					pointerTokens(k.TemplatePath)...)).To(Succeed())
			} else {
				gvks, _, err := clientgoscheme.Scheme.ObjectKinds(obj)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(gvks).To(ContainElement(k.GVK))
				k.Template(obj).Annotations = map[string]string{"marker": "here"}
			}
			g.Expect(string(k.Name)).To(Equal(k.GVK.Kind))
			plural, _ := meta.UnsafeGuessKindToResource(k.GVK)
			g.Expect(k.Resource).To(Equal(plural.Resource))
			tmpl, err := k.PodTemplate(obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tmpl.Annotations).To(HaveKeyWithValue("marker", "here"))

			raw, err := json.Marshal(obj)
			g.Expect(err).NotTo(HaveOccurred())
			var doc any
			g.Expect(json.Unmarshal(raw, &doc)).To(Succeed())
			for _, step := range strings.Split(strings.TrimPrefix(k.TemplatePath, "/"), "/") {
				doc = doc.(map[string]any)[step]
			}
			g.Expect(doc).To(HaveKeyWithValue("metadata", HaveKeyWithValue("annotations", HaveKeyWithValue("marker", "here"))))

			g.Expect(k.PodSelector == nil).NotTo(Equal(k.PodsThrough == ""), "PodSelector or PodsThrough, exactly one")
			if k.PodsThrough != "" {
				_, ok := ByName(k.PodsThrough)
				g.Expect(ok).To(BeTrue())
			}
			g.Expect(k.Rollout).NotTo(BeNil())
			got, ok := ByGVK(k.GVK)
			g.Expect(ok).To(BeTrue())
			g.Expect(got.Name).To(Equal(k.Name))
		})
	}
}
