// Package monitoring tests what Outrigger ships for Prometheus and Grafana (config/components/prometheus, and its
// copy in the Helm chart): the alerts, validated and fired on synthetic series by Prometheus' own rule packages;
// the dashboard, each of whose queries parses and names only metrics that are exported; docs/metrics.md, which
// names every metric and alert; and the chart and config/ shipping the same rules and dashboard.
//
// Prometheus' rule engine and test storage are heavy imports: they stay in this package, which no other imports
// and which starts no control plane.
package monitoring
