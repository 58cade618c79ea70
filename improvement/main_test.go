package improvement

import (
	"flag"
	"os"
	"testing"
)

// fuzzMinimizeTime bounds how much fuzzing spends minimising each new
// interesting input unless -fuzzminimizetime says otherwise: 100
// executions. With the testing package's default, 60 seconds, FuzzApply,
// FuzzApplySplit and FuzzDecodeState spent a short -fuzztime minimising
// (issue 18: 17 execs in 20 s), since they find new coverage often and the
// fuzzer runs nothing else while it minimises. With it, a 20 s run of
// FuzzDecodeState makes about 24,000 executions and FuzzApply about 2,500 a
// second. A crasher is still minimised within the same bound.
const fuzzMinimizeTime = "100x"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimizeTime); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
