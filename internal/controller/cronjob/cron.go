package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron schedule.
type Schedule interface {
	// Next returns the first activation time strictly after t, or the zero time if there is
	// none within five years.
	Next(t time.Time) time.Time
}

// specSchedule is a 5-field schedule: one bit per allowed value of each field, evaluated
// in loc. starBit on dom/dow records a field given as "*" or "?".
type specSchedule struct {
	minute, hour, dom, month, dow uint64
	loc                           *time.Location
}

// everySchedule is "@every <duration>": activations delay apart, on whole seconds.
type everySchedule struct{ delay time.Duration }

const starBit = 1 << 63

type bounds struct {
	min, max int
	names    map[string]int
}

var (
	minuteBounds = bounds{0, 59, nil}
	hourBounds   = bounds{0, 23, nil}
	domBounds    = bounds{1, 31, nil}
	monthBounds  = bounds{1, 12, map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	dowBounds = bounds{0, 6, map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

// ParseSchedule parses a standard cron schedule (minute hour day-of-month month
// day-of-week; "*", "?", ranges "a-b", steps "*/n", "a-b/n", "a/n", lists, month and day
// names) or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly and
// "@every <duration>". Times are computed in loc. As with Kubernetes (robfig/cron),
// when both day-of-month and day-of-week are restricted a day matching either is
// chosen; local times skipped by a DST change do not fire that day, and times repeated
// by one fire at each occurrence.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	if loc == nil {
		loc = time.Local
	}
	if strings.HasPrefix(spec, "@") {
		if rest, ok := strings.CutPrefix(spec, "@every "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(rest))
			if err != nil {
				return nil, fmt.Errorf("failed to parse duration %s: %w", spec, err)
			}
			if d < time.Second {
				d = time.Second
			}
			return everySchedule{delay: d - d%time.Second}, nil
		}
		macros := map[string]string{
			"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
			"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
		}
		m, ok := macros[spec]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		spec = m
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	s := &specSchedule{loc: loc}
	var err error
	for i, p := range []struct {
		dst *uint64
		b   bounds
	}{{&s.minute, minuteBounds}, {&s.hour, hourBounds}, {&s.dom, domBounds}, {&s.month, monthBounds}, {&s.dow, dowBounds}} {
		if *p.dst, err = parseField(fields[i], p.b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parseField parses a comma-separated list of ranges into a bit set.
func parseField(field string, b bounds) (uint64, error) {
	var bits uint64
	for _, expr := range strings.Split(field, ",") {
		r, err := parseRange(expr, b)
		if err != nil {
			return 0, err
		}
		bits |= r
	}
	return bits, nil
}

func parseRange(expr string, b bounds) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	single := len(lowAndHigh) == 1
	var (
		start, end, step int
		extra            uint64
		err              error
	)
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		if !single {
			return 0, fmt.Errorf("invalid range: %s", expr)
		}
		start, end, extra = b.min, b.max, starBit
	} else {
		if start, err = parseValue(lowAndHigh[0], b); err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseValue(lowAndHigh[1], b); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
		step = 1
	case 2:
		if step, err = strconv.Atoi(rangeAndStep[1]); err != nil {
			return 0, fmt.Errorf("failed to parse int from %s: %w", rangeAndStep[1], err)
		}
		if single {
			end = b.max // "N/step" means "N-max/step"
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < b.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step <= 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	for i := start; i <= end; i += step {
		bits |= 1 << uint(i)
	}
	return bits | extra, nil
}

func parseValue(s string, b bounds) (int, error) {
	if b.names != nil {
		if v, ok := b.names[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %w", s, err)
	}
	if v < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", v, s)
	}
	return v, nil
}

func (s everySchedule) Next(t time.Time) time.Time {
	return t.Add(s.delay - time.Duration(t.Nanosecond())*time.Nanosecond)
}

func (s *specSchedule) dayMatches(t time.Time) bool {
	dom := 1<<uint(t.Day())&s.dom > 0
	dow := 1<<uint(t.Weekday())&s.dow > 0
	if s.dom&starBit > 0 || s.dow&starBit > 0 {
		return dom && dow
	}
	return dom || dow
}

// Next walks from t field by field (month, day, hour, minute), resetting the smaller
// fields whenever a larger one advances. Hours and minutes advance by absolute time, so a
// local hour that does not exist is skipped and one that repeats is visited twice.
func (s *specSchedule) Next(t time.Time) time.Time {
	origLoc := t.Location()
	t = t.In(s.loc)
	// Start at the next whole minute.
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	yearLimit := t.Year() + 5
	reset := false // whether smaller fields were reset to their minimum

wrap:
	if t.Year() > yearLimit {
		return time.Time{}
	}
	for 1<<uint(t.Month())&s.month == 0 {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, s.loc)
		}
		t = t.AddDate(0, 1, 0)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc)
		}
		t = t.AddDate(0, 0, 1)
		// Midnight may have moved across a DST change: put it back.
		if h := t.Hour(); h != 0 {
			if h > 12 {
				t = t.Add(time.Duration(24-h) * time.Hour)
			} else {
				t = t.Add(-time.Duration(h) * time.Hour)
			}
		}
		if t.Day() == 1 {
			goto wrap
		}
	}
	for 1<<uint(t.Hour())&s.hour == 0 {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, s.loc)
		}
		t = t.Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for 1<<uint(t.Minute())&s.minute == 0 {
		if !reset {
			reset = true
			t = t.Truncate(time.Minute)
		}
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	return t.In(origLoc)
}
