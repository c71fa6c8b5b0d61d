package testenv

import (
	"testing"
	"time"
)

func TestScale(t *testing.T) {
	if got := Scale(time.Second); got != time.Duration(Factor()*float64(time.Second)) || got < time.Second {
		t.Errorf("Scale(1s) = %s with factor %v", got, Factor())
	}
}
