// Package status computes a profile's status from what the profile reconciler observed: observations in,
// status out. It is pure (no client, no clock: the time is an input), so every rule is table-tested without an
// apiserver. Each condition is set by a small function of its own; needsAttention entries are ordered most
// urgent first and cut to a bound.
package status
