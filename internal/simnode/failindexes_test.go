package simnode

import "testing"

func TestInIndexList(t *testing.T) {
	for _, tc := range []struct {
		list, index string
		want, err   bool
	}{
		{"1,3-5", "1", true, false},
		{"1,3-5", "4", true, false},
		{"1,3-5", "2", false, false},
		{"1,3-5", "6", false, false},
		{" 0 , 2", "2", true, false},
		{"1", "", false, false}, // not an Indexed Job pod
		{"x", "1", false, true},
	} {
		got, err := inIndexList(tc.list, tc.index)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("inIndexList(%q, %q) = %v, %v", tc.list, tc.index, got, err)
		}
	}
}
