package mh

import "fmt"

// Status is the Status field of a (Proxy) Binding Acknowledgement (RFC
// 6275 6.1.8; IANA "Status Codes"). Values below 128 mean accepted, 128 and
// above rejected.
type Status uint8

// Status codes (RFC 6275 6.1.8, RFC 5213 8.9, RFC 5844 3.2, RFC 5845 6.2,
// RFC 6602 5, RFC 7148).
const (
	StatusAccepted                     Status = 0   // RFC 6275
	StatusAcceptedPrefixDiscovery      Status = 1   // RFC 6275
	StatusGREKeyOptionNotRequired      Status = 2   // RFC 5845 6.2
	StatusGRETLVHeaderNotSupported     Status = 3   // RFC 5845 6.2
	StatusReasonUnspecified            Status = 128 // RFC 6275
	StatusAdministrativelyProhibited   Status = 129 // RFC 6275
	StatusInsufficientResources        Status = 130 // RFC 6275
	StatusHomeRegistrationNotSupported Status = 131 // RFC 6275
	StatusNotHomeSubnet                Status = 132 // RFC 6275
	StatusNotHomeAgentForThisMN        Status = 133 // RFC 6275
	StatusDuplicateAddressDetection    Status = 134 // RFC 6275
	StatusSequenceOutOfWindow          Status = 135 // RFC 6275
	StatusExpiredHomeNonceIndex        Status = 136 // RFC 6275
	StatusExpiredCareOfNonceIndex      Status = 137 // RFC 6275
	StatusExpiredNonces                Status = 138 // RFC 6275
	StatusRegistrationTypeChange       Status = 139 // RFC 6275
	StatusInvalidCareOfAddress         Status = 174 // RFC 6275

	// RFC 5213 8.9.
	StatusProxyRegNotEnabled                Status = 152
	StatusNotLMAForThisMobileNode           Status = 153
	StatusMAGNotAuthorizedForProxyReg       Status = 154
	StatusNotAuthorizedForHomeNetworkPrefix Status = 155
	StatusTimestampMismatch                 Status = 156
	StatusTimestampLowerThanPrevAccepted    Status = 157
	StatusMissingHomeNetworkPrefixOption    Status = 158
	StatusBCEPBUPrefixSetDoNotMatch         Status = 159
	StatusMissingMNIdentifierOption         Status = 160
	StatusMissingHandoffIndicatorOption     Status = 161
	StatusMissingAccessTechTypeOption       Status = 162

	// RFC 5845 6.2.
	StatusGREKeyOptionRequired Status = 163

	// RFC 5844 3.2.
	StatusNotAuthorizedForIPv4MobilityService Status = 170
	StatusNotAuthorizedForIPv4HomeAddress     Status = 171
	StatusNotAuthorizedForIPv6MobilityService Status = 172
	StatusMultipleIPv4HoANotSupported         Status = 173

	// RFC 6602 5.
	StatusInvalidMobileNodeGroupIdentifier Status = 175
)

var statusNames = map[Status]string{
	StatusAccepted:                            "Binding Update accepted",
	StatusAcceptedPrefixDiscovery:             "Accepted but prefix discovery necessary",
	StatusGREKeyOptionNotRequired:             "GRE_KEY_OPTION_NOT_REQUIRED",
	StatusGRETLVHeaderNotSupported:            "GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED",
	StatusReasonUnspecified:                   "Reason unspecified",
	StatusAdministrativelyProhibited:          "Administratively prohibited",
	StatusInsufficientResources:               "Insufficient resources",
	StatusHomeRegistrationNotSupported:        "Home registration not supported",
	StatusNotHomeSubnet:                       "Not home subnet",
	StatusNotHomeAgentForThisMN:               "Not home agent for this mobile node",
	StatusDuplicateAddressDetection:           "Duplicate Address Detection failed",
	StatusSequenceOutOfWindow:                 "Sequence number out of window",
	StatusExpiredHomeNonceIndex:               "Expired home nonce index",
	StatusExpiredCareOfNonceIndex:             "Expired care-of nonce index",
	StatusExpiredNonces:                       "Expired nonces",
	StatusRegistrationTypeChange:              "Registration type change disallowed",
	StatusInvalidCareOfAddress:                "Invalid Care-of Address",
	StatusProxyRegNotEnabled:                  "PROXY_REG_NOT_ENABLED",
	StatusNotLMAForThisMobileNode:             "NOT_LMA_FOR_THIS_MOBILE_NODE",
	StatusMAGNotAuthorizedForProxyReg:         "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
	StatusNotAuthorizedForHomeNetworkPrefix:   "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
	StatusTimestampMismatch:                   "TIMESTAMP_MISMATCH",
	StatusTimestampLowerThanPrevAccepted:      "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
	StatusMissingHomeNetworkPrefixOption:      "MISSING_HOME_NETWORK_PREFIX_OPTION",
	StatusBCEPBUPrefixSetDoNotMatch:           "BCE_PBU_PREFIX_SET_DO_NOT_MATCH",
	StatusMissingMNIdentifierOption:           "MISSING_MN_IDENTIFIER_OPTION",
	StatusMissingHandoffIndicatorOption:       "MISSING_HANDOFF_INDICATOR_OPTION",
	StatusMissingAccessTechTypeOption:         "MISSING_ACCESS_TECH_TYPE_OPTION",
	StatusGREKeyOptionRequired:                "GRE_KEY_OPTION_REQUIRED",
	StatusNotAuthorizedForIPv4MobilityService: "NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE",
	StatusNotAuthorizedForIPv4HomeAddress:     "NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS",
	StatusNotAuthorizedForIPv6MobilityService: "NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE",
	StatusMultipleIPv4HoANotSupported:         "MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED",
	StatusInvalidMobileNodeGroupIdentifier:    "INVALID_MOBILE_NODE_GROUP_IDENTIFIER",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", uint8(s))
}

// Accepted reports whether s means the binding was accepted (RFC 6275
// 6.1.8: values less than 128 indicate acceptance).
func (s Status) Accepted() bool { return s < 128 }

// IPv4HoAStatus is the Status of the IPv4 Home Address Reply option (RFC
// 5844 3.3.2; IANA "IPv4 Home Address Reply Status Codes"). Values below
// 128 mean success.
type IPv4HoAStatus uint8

// IPv4 Home Address Reply status values (RFC 5844 3.3.2).
const (
	IPv4HoASuccess                    IPv4HoAStatus = 0
	IPv4HoAFailureUnspecified         IPv4HoAStatus = 128
	IPv4HoAAdministrativelyProhibited IPv4HoAStatus = 129
	IPv4HoAIncorrectAddress           IPv4HoAStatus = 130
	IPv4HoAInvalidAddress             IPv4HoAStatus = 131
	IPv4HoADynamicNotAvailable        IPv4HoAStatus = 132
)

func (s IPv4HoAStatus) String() string {
	switch s {
	case IPv4HoASuccess:
		return "Success"
	case IPv4HoAFailureUnspecified:
		return "Failure, reason unspecified"
	case IPv4HoAAdministrativelyProhibited:
		return "Administratively prohibited"
	case IPv4HoAIncorrectAddress:
		return "Incorrect IPv4 home address"
	case IPv4HoAInvalidAddress:
		return "Invalid IPv4 address"
	case IPv4HoADynamicNotAvailable:
		return "Dynamic IPv4 home address assignment not available"
	}
	return fmt.Sprintf("IPv4 home address status %d", uint8(s))
}

// HandoffIndicator is the HI field of the Handoff Indicator option (RFC
// 5213 8.4; IANA "Handoff Indicator Option Type Values").
type HandoffIndicator uint8

// Handoff Indicator values (RFC 5213 8.4).
const (
	HandoffReserved                 HandoffIndicator = 0
	HandoffNewInterface             HandoffIndicator = 1
	HandoffBetweenInterfaces        HandoffIndicator = 2
	HandoffBetweenMAGsSameInterface HandoffIndicator = 3
	HandoffStateUnknown             HandoffIndicator = 4
	HandoffStateNotChanged          HandoffIndicator = 5
)

func (h HandoffIndicator) String() string {
	switch h {
	case HandoffReserved:
		return "Reserved"
	case HandoffNewInterface:
		return "Attachment over a new interface"
	case HandoffBetweenInterfaces:
		return "Handoff between two different interfaces of the mobile node"
	case HandoffBetweenMAGsSameInterface:
		return "Handoff between mobile access gateways for the same interface"
	case HandoffStateUnknown:
		return "Handoff state unknown"
	case HandoffStateNotChanged:
		return "Handoff state not changed (Re-registration)"
	}
	return fmt.Sprintf("handoff indicator %d", uint8(h))
}

// AccessTechnology is the ATT field of the Access Technology Type option
// (RFC 5213 8.5; IANA "Access Technology Type Option Type Values").
type AccessTechnology uint8

// Access Technology Type values (RFC 5213 8.5; 6-13 registered by 3GPP and
// 3GPP2 with IANA).
const (
	ATTReserved   AccessTechnology = 0
	ATTVirtual    AccessTechnology = 1
	ATTPPP        AccessTechnology = 2
	ATTIEEE8023   AccessTechnology = 3
	ATTIEEE80211  AccessTechnology = 4 // "IEEE 802.11a/b/g"
	ATTIEEE80216e AccessTechnology = 5
	ATT3GPPGERAN  AccessTechnology = 6
	ATT3GPPUTRAN  AccessTechnology = 7
	ATT3GPPEUTRAN AccessTechnology = 8
	ATT3GPP2eHRPD AccessTechnology = 9
	ATT3GPP2HRPD  AccessTechnology = 10
	ATT3GPP21xRTT AccessTechnology = 11
	ATT3GPP2UMB   AccessTechnology = 12
	ATT3GPPNBIoT  AccessTechnology = 13
)

var attNames = [...]string{
	"Reserved", "Virtual", "PPP", "IEEE 802.3", "IEEE 802.11a/b/g", "IEEE 802.16e",
	"3GPP GERAN", "3GPP UTRAN", "3GPP E-UTRAN", "3GPP2 eHRPD", "3GPP2 HRPD",
	"3GPP2 1xRTT", "3GPP2 UMB", "3GPP NB-IOT",
}

func (a AccessTechnology) String() string {
	if int(a) < len(attNames) {
		return attNames[a]
	}
	return fmt.Sprintf("access technology %d", uint8(a))
}
