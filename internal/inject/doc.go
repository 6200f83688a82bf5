// Package inject is Outrigger's injection engine: pure functions from a pod template and the profiles that select
// its workload to the pod template with their native sidecars, volumes and app-container mounts. It has no client
// and no clock; the reconcilers, the admission webhook and the CLI all call it.
//
// Invariants, each covered by table tests and a fuzz target:
//   - deterministic: the same inputs give the same template, whatever the order of the profiles given;
//   - idempotent: injecting into an injected template changes nothing;
//   - reversible: Remove after Inject gives back the original template;
//   - it never changes or removes a container, volume or mount it did not add: a name that collides with the
//     workload's own (or with a profile placed earlier) is reported as a Conflict and left alone.
//
// What it added is recorded on the template in the InjectionAnnotation (per profile: revision hash, placement and
// the names of the containers, volumes and mounts it added), so removal and upgrades never need the profile's
// old spec. Items the engine renders are compared with the live ones with derives (derive.go), so fields the
// apiserver defaults (terminationMessagePath, imagePullPolicy, ...) do not look like drift and cause no write.
package inject
