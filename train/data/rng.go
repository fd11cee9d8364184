package data

import (
	"math/bits"
	"math/rand/v2"
)

// Stream tags keep the random streams derived from one seed apart.
const (
	tagShuffle uint64 = 0x53485546464c4531 // "SHUFFLE1"
	tagSample  uint64 = 0x53414d504c453031 // "SAMPLE01"
)

// Golden is SplitMix64's increment, 2^64 / phi.
const Golden = 0x9e3779b97f4a7c15

// Mix64 is SplitMix64's finaliser: a well-spread 64-bit value from z. The
// one home of it for the training run's seeds (train) and the data
// pipeline's streams.
func Mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// mix is Mix64 of a ^ b*Golden: a well-spread 64-bit key from two words.
func mix(a, b uint64) uint64 { return Mix64(a ^ (b * Golden)) }

// stream is a PCG generator with its own bounded-integer and float
// conversions, so that the numbers drawn for a seed do not depend on how a
// Go release implements rand.Rand's helpers (exact training resume must
// hold across toolchains).
type stream struct{ pcg *rand.PCG }

func newStream(seed, tag, index uint64) stream {
	return stream{rand.NewPCG(mix(seed, tag), index)}
}

// intn returns a number in [0, n) (n > 0) by the multiply-high method; its
// bias, at most n/2^64, is immaterial here.
func (s stream) intn(n int) int {
	hi, _ := bits.Mul64(s.pcg.Uint64(), uint64(n))
	return int(hi)
}

// float64 returns a number in [0, 1) with 53 random bits.
func (s stream) float64() float64 {
	return float64(s.pcg.Uint64()>>11) * (1.0 / (1 << 53))
}

func (s stream) bit() bool { return s.pcg.Uint64()>>63 == 1 }

// permutation returns epoch's shuffle of 0..n-1 for a seed (Fisher-Yates).
func permutation(seed uint64, epoch int64, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := newStream(seed, tagShuffle, uint64(epoch))
	for i := n - 1; i > 0; i-- {
		j := s.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
