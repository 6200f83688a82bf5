package revision

// Name is the name of a profile's ControllerRevision for a revision hash.
func Name(profile, hash string) string {
	const maxName = 253 - 1 - 16
	if len(profile) > maxName {
		profile = profile[:maxName]
	}
	return profile + "-" + hash
}

// Namespace is where a profile's ControllerRevisions live: a SidecarProfile's own namespace, and Outrigger's own
// for a ClusterSidecarProfile (ControllerRevisions are namespaced).
func Namespace(profileNamespace, outriggers string) string {
	if profileNamespace != "" {
		return profileNamespace
	}
	return outriggers
}
