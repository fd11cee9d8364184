// Package serve is RAD inpainting as an HTTP service on net/http: the
// JSON/multipart API, a job API with Server-Sent Events progress, a
// Prometheus /metrics endpoint and a web page embedded in the binary.
//
// A Server wraps an infer.Inpainter. Requests with the same working size
// and settings that wait at the same time are sampled as one batch (the
// Inpainter's Config.MaxBatch); the rest wait for their own batch. At most
// Config.Workers x MaxBatch samples run at once (n x average per
// request), and with Config.MaxMemory only as many as their memory
// estimates fit; Config.QueueSize more wait; beyond that a request is
// answered 429 with Retry-After, and one that could never fit 413. At most
// Config.MaxUploads bodies are read and decoded at once (503 after
// UploadWait, before the body is read); uploads are bounded in bytes and
// pixels (413); only PNG, JPEG and Netpbm are decoded. An allocation
// failure while sampling is 503 and the service goes on. Access control
// (Config.Token, AllowedHosts, CheckOrigin: a bearer token or the page's
// cookie, a Host allow-list against DNS rebinding, and an Origin check on
// state-changing requests) is off at its zero values; radctl serve turns
// it on. A request whose client goes away,
// or whose job is deleted, stops its sampling within one step (a call in a
// batch with others leaves the batch, which goes on for them). Every
// request has a timeout (504). Drain refuses new work (503) while the
// work in flight finishes, for a graceful shutdown. Errors are JSON
// objects {"error": "..."} with a 4xx or 5xx status; a panic in a handler
// is answered 500 and logged, never a crash.
//
// Endpoints:
//
//	POST   /v1/inpaint            image + mask (multipart files or JSON base64) -> PNG (n > 1: JSON list)
//	POST   /v1/jobs               the same inputs -> 202 {"id": ...}
//	GET    /v1/jobs/{id}          the job's state
//	GET    /v1/jobs/{id}/events   Server-Sent Events: progress, then done or error
//	GET    /v1/jobs/{id}/result   the PNG (n > 1: JSON list; ?i=k the k-th PNG)
//	DELETE /v1/jobs/{id}          cancel (and forget) the job
//	GET    /v1/demo/image.png     the generated demo picture (and mask.png)
//	GET    /healthz               200 when the model is loaded and the server takes work
//	GET    /metrics               Prometheus metrics
//	GET    /                      the web page
//
// Masks follow the CLI's convention: white (luminance >= 128) is the
// hole; invert_mask reads 255 = keep, soft_mask reads gray levels as
// partial-strength regeneration. The known pixels of every answer equal
// the input's byte for byte. average = K answers the mean of K samples
// (infer.Options.Average: the posterior-mean estimate, higher PSNR,
// smoother fill); n x average is at most the server's max_n, and result k
// of n averages seeds seed+kK to seed+kK+K-1.
package serve
