// delay-proxy: an HTTP reverse proxy on 127.0.0.1 that adds a fixed delay to every request
// and counts every request it forwards, for the bucket benchmark (bench/bucket.py) and
// tests/e2e/test_gcs_inflight.py. It stands between clipindex and fake-gcs-server so a run sees
// a bucket's round trip (e.g. 40 ms) while the requests are counted where a bucket would
// bill them: metadata GETs, ranged reads, listing pages and retries alike.
//
//	delay-proxy -upstream http://127.0.0.1:PORT [-listen 127.0.0.1:0] [-delay 40ms]
//
// It prints "listening on 127.0.0.1:PORT" once ready. Control (never forwarded, never counted):
//
//	GET /__proxy/stats              counts as JSON: by kind, by status, bytes sent back
//	GET /__proxy/reset              zero the counts
//	GET /__proxy/delay?ms=40        change the delay
//
// With -list-bucket B -list-names FILE (one object name a line), the proxy itself answers
// object listings of bucket B (prefix, delimiter, maxResults up to 1,000 as GCS pages,
// pageToken) from those names, each object of size 1: fake-gcs-server stores its objects
// in a slice (creating n objects costs O(n^2): 8,000 take 75 s) and re-reads and sorts the
// whole bucket for every page, so it cannot stand for a 38,200-object listing.
//
// Batch requests (POST /batch/storage/v1: google-cloud-storage's batch, which Beam's GCS
// filesystem uses to copy and delete) are forwarded with a Content-ID added to each part that
// has none: GCS answers parts in order without one, fake-gcs-server skips them (and answers an
// empty batch, which the Python client cannot parse), so a gs:// index could not be written to it.
//
// Kinds: "media" (object bytes: alt=media or /download/), "metadata" (one object's
// resource), "list" (an object listing page), "upload", "batch", "other". Written in Go with the
// standard library only, so the proxy costs the 2-core benchmark machine next to nothing;
// built into the cache by tools/build_delay_proxy.sh.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type stats struct {
	mu       sync.Mutex
	kinds    map[string]int64
	statuses map[string]int64
	bytes    int64
	inFlight int64
	maxIn    int64
}

func (s *stats) add(kind string, status int, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[kind]++
	s.statuses[strconv.Itoa(status)]++
	s.bytes += n
}

func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds = map[string]int64{}
	s.statuses = map[string]int64{}
	s.bytes = 0
	atomic.StoreInt64(&s.maxIn, atomic.LoadInt64(&s.inFlight))
}

func (s *stats) snapshot() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	kinds := map[string]int64{}
	for k, v := range s.kinds {
		kinds[k] = v
		total += v
	}
	statuses := map[string]int64{}
	for k, v := range s.statuses {
		statuses[k] = v
	}
	return map[string]any{"requests": total, "kinds": kinds, "statuses": statuses, "bytes": s.bytes,
		"max_in_flight": atomic.LoadInt64(&s.maxIn)}
}

func kindOf(r *http.Request) string {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/batch/"):
		return "batch"
	case strings.HasPrefix(path, "/upload/"):
		return "upload"
	case strings.HasPrefix(path, "/download/") || r.URL.Query().Get("alt") == "media":
		return "media"
	case strings.Contains(path, "/o/"):
		return "metadata"
	case strings.HasSuffix(path, "/o") && r.Method == http.MethodGet:
		return "list"
	}
	return "other"
}

// numberBatchParts gives every part of a batch request a Content-ID (in order) where it has
// none, rewriting the request's body; any other request is left as it is.
func numberBatchParts(r *http.Request) error {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/batch/") {
		return nil
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		return nil
	}
	reader := multipart.NewReader(r.Body, params["boundary"])
	var body bytes.Buffer
	writer := multipart.NewWriter(&body)
	for number := 1; ; number++ {
		part, err := reader.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		header := part.Header
		if header.Get("Content-ID") == "" {
			header.Set("Content-ID", fmt.Sprintf("<part-%d>", number))
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return err
		}
		out, err := writer.CreatePart(header)
		if err != nil {
			return err
		}
		out.Write(content)
	}
	writer.Close()
	r.Body = io.NopCloser(&body)
	r.ContentLength = int64(body.Len())
	r.Header.Set("Content-Length", strconv.Itoa(body.Len()))
	r.Header.Set("Content-Type", "multipart/mixed; boundary="+writer.Boundary())
	return nil
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

type lister struct {
	bucket string
	names  []string // sorted
}

func (l *lister) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	limit := 1000
	if m, err := strconv.Atoi(q.Get("maxResults")); err == nil && m > 0 && m < limit {
		limit = m
	}
	start := prefix
	if token := q.Get("pageToken"); token > start {
		start = token
	}
	i := sort.SearchStrings(l.names, start)
	items := []map[string]any{}
	prefixes := []string{}
	seen := map[string]bool{}
	next := ""
	for ; i < len(l.names) && strings.HasPrefix(l.names[i], prefix); i++ {
		if len(items)+len(prefixes) >= limit {
			next = l.names[i]
			break
		}
		name := l.names[i]
		if delimiter != "" {
			if cut := strings.Index(name[len(prefix):], delimiter); cut >= 0 {
				p := name[:len(prefix)+cut+len(delimiter)]
				if !seen[p] {
					seen[p] = true
					prefixes = append(prefixes, p)
				}
				continue
			}
		}
		items = append(items, map[string]any{"kind": "storage#object", "name": name, "bucket": l.bucket,
			"size": "1", "generation": "1700000000000000", "metageneration": "1",
			"updated": "2026-12-01T00:00:00.000Z", "timeCreated": "2026-12-01T00:00:00.000Z"})
	}
	answer := map[string]any{"kind": "storage#objects", "items": items}
	if len(prefixes) > 0 {
		answer["prefixes"] = prefixes
	}
	if next != "" {
		answer["nextPageToken"] = next
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

func loadNames(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("delay-proxy: %v", err)
	}
	names := []string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" {
			names = append(names, line)
		}
	}
	sort.Strings(names)
	return names
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	upstream := flag.String("upstream", "", "the server to forward to, e.g. http://127.0.0.1:4443")
	delay := flag.Duration("delay", 0, "fixed delay added to every forwarded request")
	listBucket := flag.String("list-bucket", "", "answer this bucket's object listings from -list-names")
	listNames := flag.String("list-names", "", "file of object names, one a line")
	flag.Parse()
	var names *lister
	if *listBucket != "" {
		names = &lister{bucket: *listBucket, names: loadNames(*listNames)}
	}
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		log.Fatalf("delay-proxy: -upstream must be a URL, got %q", *upstream)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
		log.Fatalf("delay-proxy: listens on loopback only, got %q", *listen)
	}
	var delayNs atomic.Int64
	delayNs.Store(int64(*delay))
	st := &stats{kinds: map[string]int64{}, statuses: map[string]int64{}}

	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}
	proxy.ErrorLog = log.New(io.Discard, "", 0)

	mux := http.NewServeMux()
	mux.HandleFunc("/__proxy/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st.snapshot())
	})
	mux.HandleFunc("/__proxy/reset", func(w http.ResponseWriter, r *http.Request) {
		st.reset()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/__proxy/delay", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.ParseFloat(r.URL.Query().Get("ms"), 64)
		if err != nil || ms < 0 {
			http.Error(w, "ms=NUMBER", http.StatusBadRequest)
			return
		}
		delayNs.Store(int64(ms * float64(time.Millisecond)))
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		now := atomic.AddInt64(&st.inFlight, 1)
		defer atomic.AddInt64(&st.inFlight, -1)
		for {
			seen := atomic.LoadInt64(&st.maxIn)
			if now <= seen || atomic.CompareAndSwapInt64(&st.maxIn, seen, now) {
				break
			}
		}
		if d := time.Duration(delayNs.Load()); d > 0 {
			time.Sleep(d)
		}
		cw := &countingWriter{ResponseWriter: w}
		if err := numberBatchParts(r); err != nil {
			http.Error(cw, "delay-proxy: unreadable batch request: "+err.Error(), http.StatusBadRequest)
		} else if names != nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/b/"+names.bucket+"/o") {
			names.serve(cw, r)
		} else {
			proxy.ServeHTTP(cw, r)
		}
		st.add(kindOf(r), cw.status, cw.n)
	})

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("delay-proxy: %v", err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal((&http.Server{Handler: mux}).Serve(listener))
}
