package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/radinpaint/rad/torch"
)

// metrics are the server's Prometheus metrics (prefix rad_).
type metrics struct {
	requests *prometheus.CounterVec   // by handler and status code
	latency  *prometheus.HistogramVec // by handler
	queue    prometheus.Gauge         // samples waiting for a slot
	running  prometheus.Gauge         // samples being sampled
	batch    prometheus.Histogram     // per sample: the size of its batch
	samples  *prometheus.CounterVec   // by outcome

	uploadsRefused prometheus.Counter     // requests refused for want of an upload slot
	denied         *prometheus.CounterVec // by reason: token, host, origin
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rad_http_requests_total",
			Help: "HTTP requests by handler and status code."}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rad_http_request_duration_seconds",
			Help:    "HTTP request latency by handler (an events stream lasts as long as its job).",
			Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"handler"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rad_queue_depth",
			Help: "Samples waiting for a free slot."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rad_samples_running",
			Help: "Samples being sampled (at most workers x max batch)."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rad_batch_size",
			Help:    "For every sample that called the model, the number of samples in its batch.",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64}}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rad_samples_total",
			Help: "Samples by outcome: ok, error, cancelled, timeout, oom."}, []string{"outcome"}),
		uploadsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "rad_uploads_refused_total",
			Help: "Requests answered 503 before their body was read: every upload slot stayed taken for the upload wait."}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rad_requests_denied_total",
			Help: "Requests refused by access control, by reason: token (401), host (403), origin (403)."}, []string{"reason"}),
	}
	cs := []prometheus.Collector{m.requests, m.latency, m.queue, m.running, m.batch, m.samples, m.uploadsRefused, m.denied,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rad_memory_running_bytes",
			Help: "Estimated memory of the samples running (against the memory budget, rad_memory_budget_bytes)."},
			func() float64 { _, b := s.slots.running(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rad_memory_budget_bytes",
			Help: "The memory budget of the samples running at once (0: none)."},
			func() float64 { return float64(s.cfg.MaxMemory) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rad_job_bytes",
			Help: "Bytes of the results the job store keeps."},
			func() float64 {
				s.jobsMu.Lock()
				defer s.jobsMu.Unlock()
				return float64(s.jobBytes)
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rad_model_calls_total",
			Help: "Model calls (batched forwards through the UNet) since the start."},
			func() float64 { return float64(s.ip.ModelCalls()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rad_live_tensors",
			Help: "libtorch tensors alive in the process (the model's weights included)."},
			func() float64 { return float64(torch.LiveTensors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rad_jobs",
			Help: "Jobs kept (running or finished and not expired)."},
			func() float64 {
				s.jobsMu.Lock()
				defer s.jobsMu.Unlock()
				return float64(len(s.jobs))
			}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: s.cfg.Log})
}
