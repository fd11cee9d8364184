// Package models holds the weights the project trained and ships, embedded
// in the binary with go:embed, and hands them to radmodel's loader: no
// files beside the binary, no download.
//
//   - Photo: the default model of radctl infer and infer.NewDefault, a
//     fully convolutional RAD model (5.25 M parameters, no attention
//     resolutions, v-prediction), trained with rad-full on 64 x 64 and
//     then 128 x 128 patches of natural photos from Debian packages
//     (docs/DATA.md). It runs at an image's own resolution.
//   - FMNISTBase, FMNISTAdapter and FMNISTClassifier: the Fashion-MNIST
//     models of the evaluation (docs/RESULTS.md): an ADM base trained with
//     the adm objective, its RAD LoRA adapters (the paper's setup and the
//     Cfg. 2 ablation with the scalar embedding), and the stand-in feature
//     network of the FID-FMNIST numbers.
//
// README.md in this folder lists, for every file, the command, data, steps
// and wall time that made it.
package models
