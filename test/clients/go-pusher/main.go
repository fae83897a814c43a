// go-pusher pushes a fixed set of metrics to a Pushgateway-compatible endpoint with
// client_golang's push package, as a Go batch job would. The observed values are fixed (and
// exactly representable in binary) so that the points they become are deterministic.
//
// Built by test/integration/clients.test.ts in GOPATH mode against Debian's client_golang:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= GOCACHE=$(mktemp -d) go build -o go-pusher .
//
// Usage: go-pusher -url http://127.0.0.1:PORT -job JOB [-grouping name=value]... \
//
//	[-method push|add|delete] [-format proto|text] \
//	[-bearer-token TOKEN] [-basic-auth USER:PASSWORD] [-ca-file CA.pem]
//
// -basic-auth uses the Pusher's own BasicAuth; -bearer-token and -ca-file give the Pusher an
// http.Client (through its Client method) whose transport adds "Authorization: Bearer TOKEN"
// and trusts the CA certificates of the PEM file for https:// URLs. Without them the Pusher
// uses its default client, as before.
//
// It exits 0 when the client reports success and 1 with the client's error otherwise.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

type groupingFlag [][2]string

func (g *groupingFlag) String() string { return fmt.Sprint(*g) }

func (g *groupingFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", s)
	}
	*g = append(*g, [2]string{name, value})
	return nil
}

// bearerTransport adds an Authorization header with a bearer token to every request.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// httpClient is the client for the Pusher when a bearer token or a CA file is given, else nil.
func httpClient(bearerToken, caFile string) (*http.Client, error) {
	if bearerToken == "" && caFile == "" {
		return nil, nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	var rt http.RoundTripper = transport
	if bearerToken != "" {
		rt = &bearerTransport{token: bearerToken, base: transport}
	}
	return &http.Client{Transport: rt}, nil
}

func collectors() []prometheus.Collector {
	requests := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gopush_requests_total",
		Help: "Requests handled by the batch job.",
	})
	requests.Add(7)

	temperature := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gopush_temperature_celsius",
		Help: "Temperature per room.",
	}, []string{"room"})
	temperature.WithLabelValues("a").Set(21.5)
	temperature.WithLabelValues("b").Set(-3.25)

	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gopush_latency_seconds",
		Help:    "Latency of the steps.",
		Buckets: []float64{1e-05, 0.005, 0.1, 1, 2.5, 100000, 1e+06},
	})
	for _, v := range []float64{0.00390625, 0.0625, 0.5, 2, 64} {
		latency.Observe(v)
	}

	duration := prometheus.NewSummary(prometheus.SummaryOpts{
		Name:       "gopush_duration_seconds",
		Help:       "Duration of the steps.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
	})
	for _, v := range []float64{1, 2, 3, 4} {
		duration.Observe(v)
	}

	return []prometheus.Collector{requests, temperature, latency, duration}
}

func main() {
	url := flag.String("url", "", "base URL of the gateway, e.g. http://127.0.0.1:9091")
	job := flag.String("job", "", "job name")
	method := flag.String("method", "push", "push (PUT), add (POST) or delete (DELETE)")
	format := flag.String("format", "proto", "proto (delimited protobuf, the client's default) or text")
	bearerToken := flag.String("bearer-token", "", "send this bearer token with every request")
	basicAuth := flag.String("basic-auth", "", "user:password for the Pusher's BasicAuth")
	caFile := flag.String("ca-file", "", "PEM file of the CA certificates to trust for https:// URLs")
	var grouping groupingFlag
	flag.Var(&grouping, "grouping", "a grouping label, name=value (repeatable)")
	flag.Parse()
	if *url == "" || *job == "" {
		fmt.Fprintln(os.Stderr, "go-pusher: -url and -job are required")
		os.Exit(2)
	}

	p := push.New(*url, *job)
	client, err := httpClient(*bearerToken, *caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-pusher:", err)
		os.Exit(2)
	}
	if client != nil {
		p = p.Client(client)
	}
	if *basicAuth != "" {
		user, password, ok := strings.Cut(*basicAuth, ":")
		if !ok {
			fmt.Fprintln(os.Stderr, "go-pusher: -basic-auth wants user:password")
			os.Exit(2)
		}
		p = p.BasicAuth(user, password)
	}
	for _, g := range grouping {
		p = p.Grouping(g[0], g[1])
	}
	switch *format {
	case "proto":
		// The default of push.New; left as is so that what is tested is what users get.
	case "text":
		p = p.Format(expfmt.FmtText)
	default:
		fmt.Fprintf(os.Stderr, "go-pusher: unknown format %q\n", *format)
		os.Exit(2)
	}

	switch *method {
	case "push":
		for _, c := range collectors() {
			p = p.Collector(c)
		}
		err = p.Push()
	case "add":
		for _, c := range collectors() {
			p = p.Collector(c)
		}
		err = p.Add()
	case "delete":
		err = p.Delete()
	default:
		fmt.Fprintf(os.Stderr, "go-pusher: unknown method %q\n", *method)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
