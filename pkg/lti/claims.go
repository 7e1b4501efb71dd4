package lti

import (
	"fmt"
	"strings"
	"time"
)

// LTI 1.3 message types and version.
const (
	MessageResourceLink        = "LtiResourceLinkRequest"
	MessageDeepLinking         = "LtiDeepLinkingRequest"
	MessageDeepLinkingResponse = "LtiDeepLinkingResponse"
	Version                    = "1.3.0"
)

// Claim names from LTI Core 1.3, Deep Linking 2.0, NRPS 2.0 and AGS 2.0.
const (
	claimPrefix          = "https://purl.imsglobal.org/spec/lti/claim/"
	ClaimMessageType     = claimPrefix + "message_type"
	ClaimVersion         = claimPrefix + "version"
	ClaimDeploymentID    = claimPrefix + "deployment_id"
	ClaimTargetLinkURI   = claimPrefix + "target_link_uri"
	ClaimResourceLink    = claimPrefix + "resource_link"
	ClaimRoles           = claimPrefix + "roles"
	ClaimContext         = claimPrefix + "context"
	ClaimToolPlatform    = claimPrefix + "tool_platform"
	ClaimLaunchPresent   = claimPrefix + "launch_presentation"
	ClaimCustom          = claimPrefix + "custom"
	ClaimLIS             = claimPrefix + "lis"
	ClaimNRPS            = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
	ClaimAGS             = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
	ClaimDeepLinking     = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	ClaimContentItems    = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
	ClaimDeepLinkData    = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
	ClaimDeepLinkMessage = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
)

// Role is what a launch makes a person in Margin.
type Role string

// The roles a launch can give. RoleNone is a role Margin has no place for
// (a mentor, an observer, a guest).
const (
	RoleTeacher Role = "teacher"
	RoleStudent Role = "student"
	RoleNone    Role = ""
)

// Role vocabularies (LTI Core 1.3, appendix A.2).
const (
	vocabMembership  = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
	vocabMembershipS = "http://purl.imsglobal.org/vocab/lis/v2/membership/" // sub-roles: …/Instructor#TeachingAssistant
	vocabInstitution = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
	vocabSystem      = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"

	RoleInstructorURI = vocabMembership + "Instructor"
	RoleLearnerURI    = vocabMembership + "Learner"
)

// MarginRole maps LTI roles to Margin's. The course (context) role decides:
// Instructor, Administrator and ContentDeveloper (with their sub-roles,
// such as a teaching assistant) make a teacher; Learner makes a student;
// teaching wins over learning when both are present. Only without any
// course role does an institution or system Administrator count as a
// teacher. Anything else is RoleNone.
func MarginRole(roles []string) Role {
	var teach, learn, admin bool
	for _, r := range roles {
		switch name, scope := roleName(r); {
		case scope == "context" && (name == "Instructor" || name == "Administrator" || name == "ContentDeveloper"):
			teach = true
		case scope == "context" && name == "Learner":
			learn = true
		case scope == "institution" || scope == "system":
			admin = admin || name == "Administrator"
		}
	}
	switch {
	case teach:
		return RoleTeacher
	case learn:
		return RoleStudent
	case admin:
		return RoleTeacher
	}
	return RoleNone
}

// roleName returns the principal role of an LTI role URI and whether it
// is a course, institution or system role. Simple names ("Instructor")
// are course roles, as LTI Core allows for context roles.
func roleName(r string) (name, scope string) {
	switch {
	case strings.HasPrefix(r, vocabMembership):
		return strings.TrimPrefix(r, vocabMembership), "context"
	case strings.HasPrefix(r, vocabMembershipS):
		principal, _, _ := strings.Cut(strings.TrimPrefix(r, vocabMembershipS), "#")
		return principal, "context"
	case strings.HasPrefix(r, vocabInstitution):
		return strings.TrimPrefix(r, vocabInstitution), "institution"
	case strings.HasPrefix(r, vocabSystem):
		return strings.TrimPrefix(r, vocabSystem), "system"
	case !strings.Contains(r, "/"):
		return r, "context"
	}
	return "", ""
}

// Launch is a validated LTI launch: who came from which course, with which
// role, and the services the platform offers for that course.
type Launch struct {
	RegistrationID string `json:"registration_id"`
	Issuer         string `json:"issuer"`
	ClientID       string `json:"client_id"`
	DeploymentID   string `json:"deployment_id"`
	MessageType    string `json:"message_type"`
	TargetLinkURI  string `json:"target_link_uri"`

	// Subject is the platform's stable ID of the person (sub).
	Subject string   `json:"subject"`
	Roles   []string `json:"roles"`
	Role    Role     `json:"role"`
	// Name, GivenName, FamilyName and Email are set only when the
	// platform shares them.
	Name       string `json:"name,omitempty"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	Email      string `json:"email,omitempty"`
	// SourcedID is the person's SIS ID (lis person_sourcedid), if shared.
	SourcedID string `json:"sourced_id,omitempty"`

	Context      Context           `json:"context"`
	ResourceLink ResourceLink      `json:"resource_link"`
	Platform     PlatformInfo      `json:"platform"`
	ReturnURL    string            `json:"return_url,omitempty"`
	Custom       map[string]string `json:"custom,omitempty"`

	NRPS        *NRPSEndpoint        `json:"nrps,omitempty"`
	AGS         *AGSEndpoint         `json:"ags,omitempty"`
	DeepLinking *DeepLinkingSettings `json:"deep_linking,omitempty"`

	ExpiresAt time.Time `json:"expires_at"`
}

// Context is the course a launch came from.
type Context struct {
	ID    string   `json:"id"`
	Label string   `json:"label,omitempty"`
	Title string   `json:"title,omitempty"`
	Type  []string `json:"type,omitempty"`
}

// ResourceLink is the placement (an assignment, a link) in the course.
type ResourceLink struct {
	ID          string `json:"id"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// PlatformInfo describes the platform instance.
type PlatformInfo struct {
	GUID              string `json:"guid,omitempty"`
	Name              string `json:"name,omitempty"`
	ProductFamilyCode string `json:"product_family_code,omitempty"`
	Version           string `json:"version,omitempty"`
}

// NRPSEndpoint is the Names and Role Provisioning Services claim.
type NRPSEndpoint struct {
	MembershipsURL  string   `json:"context_memberships_url"`
	ServiceVersions []string `json:"service_versions,omitempty"`
}

// AGSEndpoint is the Assignment and Grade Services claim: the course's
// line items URL, the launch's own line item when it has one, and the
// scopes the platform grants.
type AGSEndpoint struct {
	Scope     []string `json:"scope"`
	LineItems string   `json:"lineitems,omitempty"`
	LineItem  string   `json:"lineitem,omitempty"`
}

// DeepLinkingSettings is the deep linking request's settings claim.
type DeepLinkingSettings struct {
	ReturnURL        string   `json:"deep_link_return_url"`
	AcceptTypes      []string `json:"accept_types"`
	AcceptTargets    []string `json:"accept_presentation_document_targets"`
	AcceptMediaTypes string   `json:"accept_media_types,omitempty"`
	AcceptMultiple   *bool    `json:"accept_multiple,omitempty"`
	AcceptLineItem   *bool    `json:"accept_lineitem,omitempty"`
	AutoCreate       *bool    `json:"auto_create,omitempty"`
	Title            string   `json:"title,omitempty"`
	Text             string   `json:"text,omitempty"`
	Data             string   `json:"data,omitempty"`
}

// IgnoresLineItems reports whether the platform said it will ignore line
// items in returned links (accept_lineitem false); when it does not say,
// Margin sends them.
func (s *DeepLinkingSettings) IgnoresLineItems() bool {
	return s.AcceptLineItem != nil && !*s.AcceptLineItem
}

// ContextKey identifies the course of a launch across Margin: issuer,
// deployment and context ID, hashed to a fixed length. The wiring keys
// the course's class by it.
func (l *Launch) ContextKey() string { return ContextKey(l.Issuer, l.DeploymentID, l.Context.ID) }

// ContextKey is Launch.ContextKey for values known without a launch.
func ContextKey(issuer, deploymentID, contextID string) string {
	return hashID("context", issuer, deploymentID, contextID)
}

// ltiClaims are the claims Margin reads from an id_token besides the
// registered ones.
type ltiClaims struct {
	Nonce         string        `json:"nonce"`
	AZP           string        `json:"azp"`
	Name          string        `json:"name"`
	GivenName     string        `json:"given_name"`
	FamilyName    string        `json:"family_name"`
	Email         string        `json:"email"`
	MessageType   string        `json:"https://purl.imsglobal.org/spec/lti/claim/message_type"`
	Version       string        `json:"https://purl.imsglobal.org/spec/lti/claim/version"`
	DeploymentID  string        `json:"https://purl.imsglobal.org/spec/lti/claim/deployment_id"`
	TargetLinkURI string        `json:"https://purl.imsglobal.org/spec/lti/claim/target_link_uri"`
	ResourceLink  *ResourceLink `json:"https://purl.imsglobal.org/spec/lti/claim/resource_link"`
	Roles         *[]string     `json:"https://purl.imsglobal.org/spec/lti/claim/roles"`
	Context       *Context      `json:"https://purl.imsglobal.org/spec/lti/claim/context"`
	Platform      *PlatformInfo `json:"https://purl.imsglobal.org/spec/lti/claim/tool_platform"`
	Presentation  *struct {
		ReturnURL string `json:"return_url"`
	} `json:"https://purl.imsglobal.org/spec/lti/claim/launch_presentation"`
	Custom map[string]any `json:"https://purl.imsglobal.org/spec/lti/claim/custom"`
	LIS    *struct {
		PersonSourcedID string `json:"person_sourcedid"`
	} `json:"https://purl.imsglobal.org/spec/lti/claim/lis"`
	NRPS        *NRPSEndpoint        `json:"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"`
	AGS         *AGSEndpoint         `json:"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"`
	DeepLinking *DeepLinkingSettings `json:"https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"`
}

// customStrings turns custom claim values into strings; LTI custom
// parameters are strings, but some platforms send numbers or booleans.
func customStrings(m map[string]any) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		case nil:
			out[k] = ""
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}
