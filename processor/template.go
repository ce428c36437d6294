package processor

import (
	"go.opentelemetry.io/collector/pdata/plog"

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
	n := s.held.len()
	var out []string
	for i := range n {
		v, ok := s.held.attrStr(i, TemplateAttribute)
		if !ok || v == "" {
			return nil
		}
		if out == nil {
			out = make([]string, n)
		}
		out[i] = v
	}
	return out
}

// writeTemplate puts our normalised template (normalize.Line of what the
// detector read) on an annotated record that arrived without one.
func (p *Processor) writeTemplate(r plog.LogRecord) {
	a := r.Attributes()
	if _, ok := a.Get(TemplateAttribute); ok {
		return
	}
	a.PutStr(TemplateAttribute, normalize.Line(detectorLine(r.Body(), p.cfg.MaxLineBytes)))
}
