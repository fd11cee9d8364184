package diffusion

import "fmt"

func errShape(what string, shape []int64, channels int64) error {
	return fmt.Errorf("%s has shape %v, want %d channels", what, shape, channels)
}
