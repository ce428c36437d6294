package processor

import (
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// TemplateAttribute is the record attribute that holds a log line's template,
// as collector-contrib's drainprocessor writes it (a proposed semantic
// convention).
const TemplateAttribute = "log.record.template"

// templates returns the template each record of s arrived with, or nil unless
// every record carries one as a non-empty string: a session's content key
// comes from its templates only when they cover all of its lines.
func templates(s *session) []string {
	n := s.recs.Len()
	var out []string
	for i := range n {
		v, ok := s.recs.At(i).Attributes().Get(TemplateAttribute)
		if !ok || v.Str() == "" {
			return nil
		}
		if out == nil {
			out = make([]string, n)
		}
		out[i] = v.Str()
	}
	return out
}

// writeTemplates puts our normalised template (normalize.Line of what the
// detector read) on every record of s that arrived without one.
func (p *Processor) writeTemplates(s *session) {
	for i := range s.recs.Len() {
		a := s.recs.At(i).Attributes()
		if _, ok := a.Get(TemplateAttribute); ok {
			continue
		}
		a.PutStr(TemplateAttribute, normalize.Line(detectorLine(s.recs.At(i).Body(), p.cfg.MaxLineBytes)))
	}
}
