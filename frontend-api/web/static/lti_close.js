// Tells the LMS that Dynamic Registration is done (LTI Dynamic
// Registration 1.0, section 3.6), so that it closes this window or frame.
const msg = { subject: "org.imsglobal.lti.close" };
(window.opener || window.parent).postMessage(msg, "*");
