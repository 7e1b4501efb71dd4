package intake

import (
	"embed"
	"encoding/json"
	"path"
	"strings"
	"sync"
)

// starterFiles are the rubrics every school's library starts with, so that
// a new school's first assignment has a rubric to reuse or copy into the
// builder (see Library).
//
//go:embed starters/*.json
var starterFiles embed.FS

// starterPrefix starts the ID of a starter rubric: "starter-" and the
// file's name without ".json".
const starterPrefix = "starter-"

// starters returns the starter rubrics, in file order, read once. A file
// that fails to parse or validate is a defect caught by TestStarters; it is
// left out here rather than offered.
var starters = sync.OnceValue(func() []LibraryRubric {
	entries, _ := starterFiles.ReadDir("starters")
	out := make([]LibraryRubric, 0, len(entries))
	for _, e := range entries {
		raw, err := starterFiles.ReadFile(path.Join("starters", e.Name()))
		if err != nil {
			continue
		}
		var r Rubric
		if json.Unmarshal(raw, &r) != nil || r.Validate() != nil {
			continue
		}
		out = append(out, LibraryRubric{ID: starterPrefix + strings.TrimSuffix(e.Name(), ".json"), Name: r.Title, Rubric: r, Starter: true})
	}
	return out
})

// starter returns the starter rubric with this ID, if there is one.
func starter(id string) (LibraryRubric, bool) {
	if !strings.HasPrefix(id, starterPrefix) {
		return LibraryRubric{}, false
	}
	for _, lr := range starters() {
		if lr.ID == id {
			return lr, true
		}
	}
	return LibraryRubric{}, false
}
