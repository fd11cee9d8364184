// Command train-classifier trains eval's Fashion-MNIST feature network
// (eval.Classifier) and writes it as float16 safetensors:
//
//	go run ./eval/cmd/train-classifier --data DIR --out classifier.safetensors
//
// DIR holds Fashion-MNIST's train-* and t10k-* IDX .gz files (Debian's
// dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist).
// It prints the test accuracy on t10k and a JSON summary.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/radinpaint/rad/eval"
	"github.com/radinpaint/rad/torch"
)

func main() {
	var cfg eval.TrainConfig
	dataDir := flag.String("data", "/usr/share/datasets/fashion-mnist", "folder of Fashion-MNIST's IDX .gz files")
	out := flag.String("out", "fmnist-classifier.safetensors", "output weights (float16 safetensors)")
	dev := flag.String("device", "cpu", "device: cpu, cuda, cuda:N")
	flag.IntVar(&cfg.Epochs, "epochs", 4, "epochs")
	flag.IntVar(&cfg.BatchSize, "batch-size", 128, "batch size")
	flag.Float64Var(&cfg.LR, "lr", 2e-3, "peak AdamW learning rate (warm-up, cosine decay)")
	flag.Float64Var(&cfg.WeightDecay, "weight-decay", 1e-2, "AdamW weight decay")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed")
	flag.IntVar(&cfg.Limit, "limit", 0, "train on the first N images only (0: all)")
	flag.Parse()
	cfg.Data = *dataDir
	d, err := torch.ParseDevice(*dev)
	if err != nil {
		log.Fatal(err)
	}
	cfg.Device = d
	cfg.Logf = func(f string, a ...any) { log.Printf(f, a...) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, res, err := eval.TrainClassifier(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Save(*out); err != nil {
		log.Fatal(err)
	}
	// the saved (float16) weights, loaded as float32, are what users get
	lc, err := eval.LoadClassifier(*out, d)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close()
	test, err := eval.LoadFashionMNIST(cfg.Data, "t10k", lc.Config().Size, 0)
	if err != nil {
		log.Fatal(err)
	}
	acc, err := lc.Accuracy(ctx, test, 500)
	if err != nil {
		log.Fatal(err)
	}
	summary := map[string]any{"out": *out, "params": res.NumParams, "epochs": res.Epochs, "steps": res.Steps,
		"seconds": res.Seconds, "final_loss": res.FinalLoss, "train_accuracy": res.TrainAccuracy,
		"test_accuracy_fp32": res.TestAccuracy, "test_accuracy_saved_fp16": acc, "test_images": test.N}
	b, _ := json.MarshalIndent(summary, "", "  ")
	fmt.Println(string(b))
}
