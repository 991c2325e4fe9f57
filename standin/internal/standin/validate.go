package standin

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// validateRequest applies the protoc-gen-validate rules that ZITADEL's protos put on a request's own string
// and enum fields, with ZITADEL's validation interceptor's outcome: InvalidArgument, the message of the first
// failing field in declaration order ("invalid AddOrgRequest.Name: value length must be ..."). The rules
// come from zitadel-go's descriptors, so they are ZITADEL's, not a copy. Nested messages are not checked.
func validateRequest(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	msg := m.ProtoReflect()
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		rules, _ := proto.GetExtension(fd.Options(), validate.E_Rules).(*validate.FieldRules)
		if rules == nil || fd.IsList() || (fd.HasPresence() && !msg.Has(fd)) {
			continue
		}
		var reason string
		switch fd.Kind() {
		case protoreflect.StringKind:
			reason = stringViolation(rules.GetString_(), msg.Get(fd).String())
		case protoreflect.EnumKind:
			reason = enumViolation(rules.GetEnum(), fd.Enum(), msg.Get(fd).Enum())
		}
		if reason != "" {
			return validation(fmt.Sprintf("invalid %s.%s: %s", msg.Descriptor().Name(), goName(fd.Name()), reason))
		}
	}
	return nil
}

func stringViolation(r *validate.StringRules, v string) string {
	if r == nil || (r.GetIgnoreEmpty() && v == "") {
		return ""
	}
	n := uint64(utf8.RuneCountInString(v))
	switch {
	case r.Len != nil && n != r.GetLen():
		return fmt.Sprintf("value length must be %d runes", r.GetLen())
	case r.MinLen != nil && r.MaxLen != nil && (n < r.GetMinLen() || n > r.GetMaxLen()):
		if r.GetMinLen() == r.GetMaxLen() {
			return fmt.Sprintf("value length must be %d runes", r.GetMinLen())
		}
		return fmt.Sprintf("value length must be between %d and %d runes, inclusive", r.GetMinLen(), r.GetMaxLen())
	case r.MinLen != nil && r.MaxLen == nil && n < r.GetMinLen():
		return fmt.Sprintf("value length must be at least %d runes", r.GetMinLen())
	case r.MaxLen != nil && r.MinLen == nil && n > r.GetMaxLen():
		return fmt.Sprintf("value length must be at most %d runes", r.GetMaxLen())
	}
	return ""
}

func enumViolation(r *validate.EnumRules, ed protoreflect.EnumDescriptor, v protoreflect.EnumNumber) string {
	switch {
	case r == nil:
		return ""
	case slices.Contains(r.GetNotIn(), int32(v)):
		return fmt.Sprintf("value must not be in list %v", r.GetNotIn())
	case r.GetDefinedOnly() && ed.Values().ByNumber(v) == nil:
		return "value must be one of the defined enum values"
	}
	return ""
}

// goName is the Go field name protoc-gen-go derives from a proto field name (user_name -> UserName).
func goName(name protoreflect.Name) string {
	parts := strings.Split(string(name), "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
