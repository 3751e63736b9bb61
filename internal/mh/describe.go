package mh

import (
	"fmt"
	"strings"
)

// optionNames renders the option types of a message for log lines.
func optionNames(opts []Option) string {
	n := make([]string, len(opts))
	for i, o := range opts {
		if s, ok := o.(fmt.Stringer); ok {
			n[i] = o.Code().String() + "=" + s.String()
			continue
		}
		n[i] = o.Code().String()
	}
	return "[" + strings.Join(n, ", ") + "]"
}

func (m *ProxyBindingUpdate) String() string {
	return fmt.Sprintf("PBU seq=%d flags=%v lifetime=%v options=%s", m.Sequence, m.Flags, m.Lifetime, optionNames(m.Options))
}

func (m *ProxyBindingQuery) String() string {
	return fmt.Sprintf("PBQ seq=%d flags=%v options=%s", m.Sequence, m.Flags, optionNames(m.Options))
}

func (m *ProxyBindingAck) String() string {
	return fmt.Sprintf("PBA seq=%d status=%v flags=%v lifetime=%v options=%s", m.Sequence, m.Status, m.Flags, m.Lifetime, optionNames(m.Options))
}

func (m *ProxyQueryAck) String() string {
	return fmt.Sprintf("PQA seq=%d status=%v flags=%v options=%s", m.Sequence, m.Status, m.Flags, optionNames(m.Options))
}

func (m *Heartbeat) String() string {
	return fmt.Sprintf("Heartbeat seq=%d flags=%v options=%s", m.Sequence, m.Flags, optionNames(m.Options))
}

func (m *BindingRevocationIndication) String() string {
	return fmt.Sprintf("BRI seq=%d trigger=%v flags=%v options=%s", m.Sequence, m.Trigger, m.Flags, optionNames(m.Options))
}

func (m *BindingRevocationAck) String() string {
	return fmt.Sprintf("BRA seq=%d status=%v flags=%v options=%s", m.Sequence, m.Status, m.Flags, optionNames(m.Options))
}

func (m *UpdateNotification) String() string {
	return fmt.Sprintf("UPN seq=%d reason=%v flags=%v options=%s", m.Sequence, m.Reason, m.Flags, optionNames(m.Options))
}

func (m *UpdateNotificationAck) String() string {
	return fmt.Sprintf("UPA seq=%d status=%v options=%s", m.Sequence, m.Status, optionNames(m.Options))
}

func (m *UnknownMessage) String() string {
	return fmt.Sprintf("%v (%d octets undecoded)", m.MHType, len(m.Data))
}

func (o *HomeNetworkPrefix) String() string          { return o.Prefix.String() }
func (o *HandoffIndicatorOption) String() string     { return o.HI.String() }
func (o *AccessTechnologyTypeOption) String() string { return o.ATT.String() }
func (o *MobileNodeLinkLayerID) String() string      { return o.ID.String() }
func (o *LinkLocalAddress) String() string           { return o.Addr.String() }
func (o *IPv4HomeAddressRequest) String() string     { return o.Prefix.String() }
func (o *IPv4HomeAddressReply) String() string       { return o.Status.String() + " " + o.Prefix.String() }
func (o *IPv4DefaultRouterAddress) String() string   { return o.Addr.String() }
func (o *IPv4CareOfAddress) String() string          { return o.Addr.String() }
func (o *MAGIPv6Address) String() string             { return o.Addr.String() }
func (o *RestartCounter) String() string             { return fmt.Sprint(o.Counter) }
func (o *Timestamp) String() string                  { return o.Time().Format("2006-01-02T15:04:05.000000Z") }
func (o *GREKey) String() string {
	if !o.HasKey {
		return "keyless"
	}
	return fmt.Sprintf("%#x", o.Key)
}
