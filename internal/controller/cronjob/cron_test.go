package cronjob

import (
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	utc := time.UTC
	for _, tc := range []struct {
		spec string
		loc  *time.Location
		from string // RFC3339
		want []string
	}{
		{"* * * * *", utc, "2026-03-01T10:00:30Z", []string{"2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"}},
		{"*/15 * * * *", utc, "2026-03-01T10:00:00Z", []string{"2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:00:00Z"}},
		{"5-10/5,30 9 * * *", utc, "2026-03-01T09:06:00Z", []string{"2026-03-01T09:10:00Z", "2026-03-01T09:30:00Z", "2026-03-02T09:05:00Z"}},
		{"0 0 1 jan *", utc, "2026-03-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"@hourly", utc, "2026-03-01T10:59:59Z", []string{"2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"}},
		{"@weekly", utc, "2026-03-01T00:00:00Z", []string{"2026-03-08T00:00:00Z"}}, // 2026-03-01 is a Sunday
		{"@monthly", utc, "2026-01-31T12:00:00Z", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"@yearly", utc, "2026-06-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"0 12 * * MON-FRI", utc, "2026-03-06T13:00:00Z", []string{"2026-03-09T12:00:00Z"}}, // Fri -> Mon
		// Both day fields restricted: either matches (the 13th, or any Friday).
		{"0 0 13 * 5", utc, "2026-03-01T00:00:00Z", []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"}},
		{"0 0 29 2 *", utc, "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
		{"0 0 30 2 *", utc, "2026-01-01T00:00:00Z", []string{"0001-01-01T00:00:00Z"}}, // never
		{"@every 90s", utc, "2026-03-01T10:00:00.5Z", []string{"2026-03-01T10:01:30Z"}},
		// Time zones: 09:00 New York is 14:00 UTC in winter, 13:00 UTC in summer.
		{"0 9 * * *", ny, "2026-03-07T15:00:00Z", []string{"2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"}},
		// Spring forward (2026-03-08 02:00 -> 03:00 EDT): 02:30 does not exist that day.
		{"30 2 * * *", ny, "2026-03-07T12:00:00Z", []string{"2026-03-09T06:30:00Z"}},
		// Fall back (2026-11-01 02:00 EDT -> 01:00 EST): 01:30 happens twice.
		{"30 1 * * *", ny, "2026-11-01T04:00:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
		// Midnight in New York across the spring change.
		{"0 0 * * *", ny, "2026-03-07T06:00:00Z", []string{"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}},
	} {
		s, err := ParseSchedule(tc.spec, tc.loc)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		from, _ := time.Parse(time.RFC3339, tc.from)
		cur := from
		for i, w := range tc.want {
			want, _ := time.Parse(time.RFC3339, w)
			got := s.Next(cur)
			if !got.Equal(want) {
				t.Errorf("%q (%s) from %s: activation %d = %s, want %s", tc.spec, tc.loc, tc.from, i, got.UTC().Format(time.RFC3339), w)
				break
			}
			cur = got
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, spec := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7",
		"5-1 * * * *", "*/0 * * * *", "a * * * *", "1-2-3 * * * *", "*/2/3 * * * *", "@reboot", "@every nope", "-1 * * * *",
	} {
		if _, err := ParseSchedule(spec, time.UTC); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", spec)
		}
	}
	for _, spec := range []string{"0 0 ? * sun", "0 0 * JAN-mar 1-5", "@annually", "@midnight", "@daily", "0/10 * * * *"} {
		if _, err := ParseSchedule(spec, time.UTC); err != nil {
			t.Errorf("ParseSchedule(%q): %v", spec, err)
		}
	}
}
