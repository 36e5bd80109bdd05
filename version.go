package peliqan

// Version is the SDK's version; it is sent in the User-Agent as
// "peliqan-go/<Version>".
const Version = "0.1.0"
