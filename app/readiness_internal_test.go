package app

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jouncebot/jouncebot/deploy"
	"github.com/jouncebot/jouncebot/readiness"
)

type fakeTook []deploy.Took

func (f fakeTook) History(int) ([]deploy.Took, error) { return f, nil }

// A deploy's time is shared among its changes; a deploy of one kind of
// change counts for that kind, a mixed one for none in particular.
func TestDeployHistorySamples(t *testing.T) {
	t.Parallel()
	h := deployHistory{fakeTook{
		{Took: 20 * time.Minute, Kinds: []deploy.Kind{deploy.KindConfig}},
		{Took: 40 * time.Minute, Kinds: []deploy.Kind{deploy.KindCore, deploy.KindCore}},
		{Took: 30 * time.Minute, Kinds: []deploy.Kind{deploy.KindCore, deploy.KindSubmodule}},
		{Took: time.Minute},
	}}
	got, err := h.Samples(30)
	if err != nil {
		t.Fatal(err)
	}
	want := []readiness.Sample{{Kind: "config", PerPatch: 20 * time.Minute}, {Kind: "core", PerPatch: 20 * time.Minute}, {Kind: "", PerPatch: 15 * time.Minute}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("samples (-want +got):\n%s", d)
	}
}
