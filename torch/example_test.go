package torch_test

import (
	"errors"
	"fmt"

	"github.com/radinpaint/rad/torch"
)

// convSiLU is the README's snippet: a scope owns every tensor made through
// it, the first failing op's error is checked once, and Keep moves the
// result to the parent scope.
func convSiLU(parent *torch.Scope, x, w, b *torch.Tensor) (*torch.Tensor, error) {
	s := parent.Child() // owns every tensor made through it
	defer s.Close()     // frees them, deterministically
	y := s.SiLU(s.Conv2d(x, w, b, torch.ConvOpts{Padding: 1}))
	if err := s.Err(); err != nil { // the first failing op's error, naming op and shapes
		return nil, err
	}
	return s.Keep(y), nil // y outlives s
}

func ExampleScope() {
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(0)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 1, 4, 8, 8)
	w := s.Randn(g, torch.Float32, torch.CPU, 16, 4, 3, 3)
	b := s.Zeros(torch.Float32, torch.CPU, 16)
	y, err := convSiLU(s, x, w, b)
	fmt.Println(y.Shape(), err)

	// a weight with the wrong input channels: an *OpError naming the op
	_, err = convSiLU(s, x, s.Zeros(torch.Float32, torch.CPU, 16, 3, 3, 3), b)
	var op *torch.OpError
	fmt.Println(errors.As(err, &op), op.Op, op.Shapes[1])
	// Output:
	// [1 16 8 8] <nil>
	// true conv2d [16 3 3 3]
}
