using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace McpEdge.Security;

/// <summary>
/// Certificates from PEM text, as Kubernetes TLS secrets and cert-manager hold them: a certificate
/// file (the certificate, then its intermediates) with its key file, and CA bundles. Shared by the
/// listener's certificate (<see cref="TlsCertificateReloader"/>) and the upstream side
/// (<see cref="Forwarder.UpstreamTlsContext"/>).
/// </summary>
public static class PemCertificates
{
    /// <summary>The server-authentication extended key usage (RFC 5280 §4.2.1.12, id-kp-serverAuth).</summary>
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>The client-authentication extended key usage (RFC 5280 §4.2.1.12, id-kp-clientAuth).</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// The first certificate of <paramref name="certificatePem"/> with the private key of
    /// <paramref name="keyPem"/> (unencrypted), and the certificates after it as its chain; null with
    /// <paramref name="error"/> (a sentence) when the text holds no certificate, the key is not the
    /// certificate's, or the certificate's extended key usage, when it has one, lacks
    /// <paramref name="usageOid"/>.
    /// </summary>
    /// <param name="certificatePem">The certificate file's text.</param>
    /// <param name="keyPem">The key file's text.</param>
    /// <param name="usageOid"><see cref="ServerAuthentication"/> or <see cref="ClientAuthentication"/>.</param>
    /// <param name="usage">The usage in words, for the error ("server authentication").</param>
    /// <param name="error">Why nothing was loaded.</param>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain)? LoadPair(string certificatePem, string keyPem, string usageOid, string usage, out string? error)
    {
        if (LoadBundle(certificatePem, "certificate file", out error) is not { } all)
        {
            return null;
        }
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            error = $"the key file does not hold the unencrypted private key of the certificate {all[0].Subject} ({e.Message}).";
            return null;
        }
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usages
            && !usages.EnhancedKeyUsages.Cast<Oid>().Any(oid => oid.Value == usageOid))
        {
            error = $"the certificate {certificate.Subject} is not for {usage} (its extended key usage lacks {usageOid}).";
            return null;
        }
        var chain = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            chain.Add(all[i]);
        }
        return (certificate, chain);
    }

    /// <summary>Every certificate in <paramref name="pem"/>; null with <paramref name="error"/> when it holds none or a malformed one.</summary>
    /// <param name="pem">The file's text.</param>
    /// <param name="file">What the file is, for the error ("CA file").</param>
    /// <param name="error">Why nothing was loaded.</param>
    public static X509Certificate2Collection? LoadBundle(string pem, string file, out string? error)
    {
        error = null;
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            error = $"the {file} holds a malformed PEM certificate ({e.Message}).";
            return null;
        }
        if (all.Count == 0)
        {
            error = $"the {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
            return null;
        }
        return all;
    }
}
