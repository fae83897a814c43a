// Command goparse is the Go baseline for pushkit's text-format parser
// benchmark. It parses each body file given on the command line with
// expfmt.TextParser (the same parser the reference Pushgateway uses) over
// and over on a single goroutine, then prints one JSON line per file.
//
// It is built offline in GOPATH mode against Debian's Go packages, so it
// must stick to the standard library plus prometheus/common.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/common/expfmt"
)

type result struct {
	File        string  `json:"file"`
	Bytes       int     `json:"bytes"`
	Samples     int     `json:"samples"`
	Iterations  int     `json:"iterations"`
	Seconds     float64 `json:"seconds"`
	MBPerS      float64 `json:"mb_per_s"`
	SamplesPerS float64 `json:"samples_per_s"`
}

// sink keeps the parse results observable so the work cannot be optimised
// away; it is never read otherwise.
var sink int

// countSamples counts sample lines the same way the TypeScript harness does:
// every non-empty line that is not a comment (# HELP, # TYPE, ...).
func countSamples(body []byte) int {
	n := 0
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

func parseOnce(body []byte) error {
	// A fresh parser per body mirrors what a server does per request.
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return err
	}
	sink += len(fams)
	return nil
}

// bench parses body repeatedly until budget has elapsed (or maxIter is
// reached). The clock is read once per batch, and batches grow, so timer
// overhead stays negligible even for a 60-byte body.
func bench(body []byte, budget time.Duration, maxIter int) (int, time.Duration, error) {
	iters := 0
	batch := 1
	start := time.Now()
	for {
		for i := 0; i < batch; i++ {
			if err := parseOnce(body); err != nil {
				return iters, time.Since(start), err
			}
		}
		iters += batch
		elapsed := time.Since(start)
		if elapsed >= budget || (maxIter > 0 && iters >= maxIter) {
			return iters, elapsed, nil
		}
		// Aim each batch at roughly 1/20 of the budget, never shrinking.
		perIter := elapsed / time.Duration(iters)
		if perIter <= 0 {
			perIter = time.Nanosecond
		}
		next := int((budget / 20) / perIter)
		if next > batch {
			batch = next
		}
		if maxIter > 0 && iters+batch > maxIter {
			batch = maxIter - iters
		}
	}
}

func main() {
	seconds := flag.Float64("seconds", 3, "time budget per body, in seconds")
	warmup := flag.Float64("warmup", 0.5, "warm-up time per body before measuring, in seconds")
	maxIter := flag.Int("max-iter", 0, "stop after this many iterations per body (0 = no limit)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [flags] BODY_FILE...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	// The TypeScript parser runs on one thread; keep the comparison fair.
	runtime.GOMAXPROCS(1)

	enc := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		body, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goparse: %v\n", err)
			os.Exit(1)
		}
		if _, _, err := bench(body, time.Duration(*warmup*float64(time.Second)), 0); err != nil {
			fmt.Fprintf(os.Stderr, "goparse: %s: %v\n", path, err)
			os.Exit(1)
		}
		runtime.GC()
		iters, elapsed, err := bench(body, time.Duration(*seconds*float64(time.Second)), *maxIter)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goparse: %s: %v\n", path, err)
			os.Exit(1)
		}
		secs := elapsed.Seconds()
		samples := countSamples(body)
		r := result{
			File:        path,
			Bytes:       len(body),
			Samples:     samples,
			Iterations:  iters,
			Seconds:     secs,
			MBPerS:      float64(len(body)) * float64(iters) / secs / 1e6,
			SamplesPerS: float64(samples) * float64(iters) / secs,
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(os.Stderr, "goparse: %v\n", err)
			os.Exit(1)
		}
	}
}
