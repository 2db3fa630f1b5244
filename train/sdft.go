package train

import "strings"

// SDFTTeacherMessage is the teacher's user message for SDFT: template with
// {question} and {solution} replaced.
func SDFTTeacherMessage(template, question, solution string) string {
	return strings.NewReplacer("{question}", question, "{solution}", solution).Replace(template)
}
